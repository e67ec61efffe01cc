// The connection options of a `nats` sink, built from its configuration: servers, reconnection that never gives
// up (with a backoff growing with the outage), credentials from the secrets the config loader resolved, and TLS
// verified by default. Kept apart from sink.ts so the one place that turns a secret into a client option is small.
import { type Authenticator, type ConnectionOptions, credsAuthenticator, nkeyAuthenticator } from 'nats';
import { Secret } from '../../config/kit/primitives.js';
import { readPem } from '../../config/kit/tls.js';
import { ConfigError } from '../../kit/errors.js';
import type { NatsSinkConfig } from './config.js';

export interface ConnectPlan {
  options: ConnectionOptions;
  /** Set when TLS verification is off, for the start-up warning. */
  insecure: boolean;
}

/**
 * The secret the loader put next to `<what>_env`/`<what>_file`. A reference left unresolved means the configuration
 * did not come through the loader: CONFIG_SECRET_MISSING naming the key, never a value.
 */
function loaderSecret(auth: unknown, what: string, sinkId: string): Secret | undefined {
  const a = auth as Record<string, unknown>;
  // What secretOf (src/config/secrets.ts) reads; components may not import the loader itself.
  const s = a[what];
  if (s instanceof Secret) return s;
  for (const suffix of ['env', 'file']) {
    if (typeof a[`${what}_${suffix}`] === 'string') {
      throw new ConfigError(
        `Sink ${sinkId}: the secret named by auth.${what}_${suffix} was not resolved; sink configurations must come through the config loader.`,
        { code: 'CONFIG_SECRET_MISSING' },
      );
    }
  }
  return undefined;
}

/**
 * Reconnection delay: about half the time since the connection was lost, between `initial` and `max`. The client
 * asks for it on every pass over its server list (not once per failed round), so a delay that depends on the
 * outage's age rather than on a call count keeps the backoff exponential in effect and the same on every path.
 */
export function reconnectDelay(outageMs: number, initial: number, max: number): number {
  const base = Math.min(max, Math.max(initial, outageMs / 2));
  return Math.round(base * (0.9 + Math.random() * 0.2));
}

export function connectPlan(cfg: NatsSinkConfig, name: string, outageStartedAt: () => number): ConnectPlan {
  const options: ConnectionOptions = {
    servers: cfg.servers.map((s) => s.replace(/^tls:\/\//, 'nats://')),
    name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectDelayHandler: () =>
      reconnectDelay(Date.now() - outageStartedAt(), cfg.reconnect.initial, cfg.reconnect.max),
    timeout: Math.min(cfg.timeout, 20_000),
    pingInterval: 20_000,
    maxPingOut: 3,
    noEcho: true,
  };
  const auth = cfg.auth;
  if (auth) {
    if (auth.username !== undefined) {
      const pass = loaderSecret(auth, 'password', cfg.id);
      if (!pass) {
        throw new ConfigError(`Sink ${cfg.id}: auth.username needs password_env or password_file.`, {
          code: 'CONFIG_SECRET_MISSING',
        });
      }
      options.user = auth.username;
      options.pass = pass.reveal();
    }
    const token = loaderSecret(auth, 'token', cfg.id);
    if (token) options.token = token.reveal();
    let authenticator: Authenticator | undefined;
    const creds = loaderSecret(auth, 'creds', cfg.id);
    if (creds) {
      if (
        !/-----BEGIN NATS USER JWT-----/.test(creds.reveal()) ||
        !/-----BEGIN USER NKEY SEED-----/.test(creds.reveal())
      ) {
        throw new ConfigError(
          `Sink ${cfg.id}: auth.creds_file (${auth.creds_file}) is not a NATS .creds file (it needs a user JWT and a user NKey seed block, as \`nsc generate creds\` writes).`,
        );
      }
      authenticator = credsAuthenticator(new TextEncoder().encode(creds.reveal()));
    }
    const seed = loaderSecret(auth, 'nkey_seed', cfg.id);
    if (seed) {
      const text = seed.reveal().trim();
      if (!/^SU[A-Z2-7]{56}$/.test(text)) {
        throw new ConfigError(
          `Sink ${cfg.id}: auth.nkey_seed_file (${auth.nkey_seed_file}) does not hold a user NKey seed (one line starting with "SU", as \`nk -gen user\` writes).`,
        );
      }
      authenticator = nkeyAuthenticator(new TextEncoder().encode(text));
    }
    if (authenticator) options.authenticator = authenticator;
  }
  const tls = cfg.tls;
  const wantsTls = tls !== undefined || cfg.servers.some((s) => s.startsWith('tls://'));
  let insecure = false;
  if (wantsTls) {
    const t: Record<string, unknown> = {};
    if (tls?.ca_file) t.ca = readPem(tls.ca_file, 'CA').toString('utf8');
    if (tls?.cert_file) t.cert = readPem(tls.cert_file, 'client certificate').toString('utf8');
    if (tls?.key_file) t.key = readPem(tls.key_file, 'client key').toString('utf8');
    // The client merges these into Node's tls.connect options, where verification is on unless turned off here.
    if (tls?.insecure_skip_verify) {
      t.rejectUnauthorized = false;
      insecure = true;
    }
    options.tls = t;
  }
  return { options, insecure };
}
