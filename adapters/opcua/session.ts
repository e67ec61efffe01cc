// Opening a secure channel and a session to one OPC UA server: the client's security mode and policy, the
// user identity, the gateway's certificate store and own certificate, and the sentences a controls engineer
// gets when the server refuses. Separate from the data path (connection.ts) because a one-off job
// (`plantgate opcua browse`) opens sessions the same way without subscribing to anything.
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { format } from 'node:util';
import {
  type ClientSession,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  setErrorLogger,
  setWarningLogger,
  type UserIdentityInfo,
  UserTokenType,
} from 'node-opcua';
import type { Logger } from 'pino';
import { readPem } from '../../src/config/kit/tls.js';
import { ConfigError, PlantgateError } from '../../src/kit/errors.js';
import type { AdapterEnv } from '../kit/types.js';
import type { OpcuaSourceConfig, ResolvedOpcuaAuth } from './config.js';
import {
  listRejected,
  pkiDirOf,
  thumbprintOf,
  UntrustedServerCertificateError,
  untrustedServerMessage,
} from './pki.js';

const MODES: Record<OpcuaSourceConfig['security']['mode'], MessageSecurityMode> = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
};

const POLICIES: Record<string, SecurityPolicy> = {
  None: SecurityPolicy.None,
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
  Aes256_Sha256_RsaPss: SecurityPolicy.Aes256_Sha256_RsaPss,
};

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new PlantgateError('SOURCE_CONNECT', `${what} took longer than ${ms} ms`, { retryable: true }),
        ),
      ms,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * The password the config loader resolved from password_env/password_file (one rule for every component: an
 * empty variable is refused, a final newline dropped, the file size capped). A reference without its value
 * means the configuration did not come through the loader.
 */
function passwordOf(auth: ResolvedOpcuaAuth): string {
  const p = auth.password;
  if (p !== undefined) return typeof p === 'string' ? p : p.reveal();
  const ref =
    auth.password_env !== undefined
      ? 'password_env'
      : auth.password_file !== undefined
        ? 'password_file'
        : undefined;
  if (ref !== undefined) {
    throw new ConfigError(
      `auth.${ref} was not resolved; the configuration must come through the config loader`,
      {
        code: 'CONFIG_SECRET_MISSING',
      },
    );
  }
  throw new ConfigError('auth.username needs password_env or password_file');
}

export function userIdentityOf(auth: ResolvedOpcuaAuth | undefined): UserIdentityInfo {
  if (!auth || (auth.username === undefined && auth.cert_file === undefined))
    return { type: UserTokenType.Anonymous };
  if (auth.username !== undefined)
    return { type: UserTokenType.UserName, userName: auth.username, password: passwordOf(auth) };
  const certFile = auth.cert_file as string;
  const keyFile = auth.key_file as string;
  const raw = readPem(certFile, 'user certificate (auth.cert_file)');
  const privateKey = readPem(keyFile, 'user key (auth.key_file)').toString('utf8');
  let certificateData: Buffer;
  try {
    // PEM or DER: node-opcua wants DER.
    certificateData = raw.includes('-----BEGIN') ? Buffer.from(new X509Certificate(raw).raw) : raw;
  } catch (err) {
    throw new ConfigError(
      `the user certificate (auth.cert_file) "${certFile}" is not a valid certificate: ${message(err)}`,
      {
        cause: err,
      },
    );
  }
  return { type: UserTokenType.Certificate, certificateData, privateKey } as unknown as UserIdentityInfo;
}

/** The sentence for a server that refuses the gateway's own certificate (said the same for every way it shows). */
export function refusedClientCertificateMessage(cfg: OpcuaSourceConfig, pkiDir: string, how: string): string {
  return `the server at ${cfg.endpoint} refused plantgate's certificate; add ${join(pkiDir, 'own', 'certs', 'client_certificate.pem')} to the server's trusted certificates (${how})`;
}

/** node-opcua's words for "the peer closed the socket" while a request was pending. */
const SOCKET_CLOSED_RE =
  /disconnected by third party|socket has been disconnected|socket (?:has been )?closed|ECONNRESET|EPIPE|premature/i;

/** Turns node-opcua's connect/session errors into sentences a controls engineer can act on. */
export function explainConnectError(
  err: unknown,
  cfg: OpcuaSourceConfig,
  pkiDir: string,
  client: OPCUAClient,
  phase: 'channel' | 'session',
): PlantgateError {
  const msg = message(err);
  // The server refused the gateway's certificate: it says so (BadCertificate*, BadSecurityChecksFailed in its
  // answer to OpenSecureChannel), or it just closes the socket once our certificate was sent (secured modes).
  const byServer = /rejected by server|BadCertificateUntrusted.*by server/i.test(msg);
  if (byServer && /BadCertificate|BadSecurityChecksFailed/.test(msg)) {
    return new PlantgateError(
      'SOURCE_CONNECT',
      refusedClientCertificateMessage(cfg, pkiDir, `the server answered ${/Bad\w+/.exec(msg)?.[0] ?? msg}`),
      { retryable: true, cause: err },
    );
  }
  if (phase === 'channel' && cfg.security.mode !== 'None' && SOCKET_CLOSED_RE.test(msg)) {
    return new PlantgateError(
      'SOURCE_CONNECT',
      refusedClientCertificateMessage(
        cfg,
        pkiDir,
        'the server closed the connection while opening the secure channel, after receiving the certificate',
      ),
      { retryable: true, cause: err },
    );
  }
  if (/BadCertificateUntrusted/.test(msg)) {
    let thumbprint = 'unknown';
    const cert = (client as unknown as { serverCertificate?: Buffer | Buffer[] }).serverCertificate;
    const first = Array.isArray(cert) ? cert[0] : cert;
    if (first && first.length > 0) {
      try {
        thumbprint = thumbprintOf(first);
      } catch {
        /* fall back to the rejected folder below */
      }
    }
    if (thumbprint === 'unknown') thumbprint = listRejected(pkiDir)[0]?.thumbprint ?? 'unknown';
    return new UntrustedServerCertificateError(
      untrustedServerMessage(thumbprint, cfg.endpoint, pkiDir, cfg.id),
      thumbprint,
      err,
    );
  }
  if (/cannot find endpoint/i.test(msg)) {
    return new PlantgateError(
      'SOURCE_CONNECT',
      `the server at ${cfg.endpoint} offers no endpoint with security mode ${cfg.security.mode} and policy ${policyName(cfg)}; check security.mode and security.policy against the server's endpoints`,
      { retryable: true, cause: err },
    );
  }
  if (/BadIdentityTokenRejected|BadUserAccessDenied|BadIdentityTokenInvalid/.test(msg)) {
    return new PlantgateError(
      'SOURCE_CONNECT',
      `the server at ${cfg.endpoint} refused the user identity (${identityName(cfg)}): ${msg}`,
      {
        retryable: true,
        cause: err,
      },
    );
  }
  if (/BadSecurityChecksFailed|BadCertificate/.test(msg)) {
    return new PlantgateError(
      'SOURCE_CONNECT',
      refusedClientCertificateMessage(cfg, pkiDir, `probably; the server answered: ${msg}`),
      { retryable: true, cause: err },
    );
  }
  return new PlantgateError('SOURCE_CONNECT', `cannot connect to ${cfg.endpoint}: ${msg}`, {
    retryable: true,
    cause: err,
  });
}

function policyName(cfg: OpcuaSourceConfig): string {
  return cfg.security.policy ?? (cfg.security.mode === 'None' ? 'None' : 'Basic256Sha256');
}

function identityName(cfg: OpcuaSourceConfig): string {
  if (cfg.auth?.username) return `user "${cfg.auth.username}"`;
  if (cfg.auth?.cert_file) return `certificate ${cfg.auth.cert_file}`;
  return 'anonymous';
}

let libraryLogsRouted = false;

/**
 * node-opcua prints its warnings (certificate dumps, retry chatter) straight to the console; route them into
 * pino at debug level instead, once per process. The adapter logs its own sentences for everything that matters.
 */
export function routeLibraryLogs(log: Logger): void {
  if (libraryLogsRouted) return;
  libraryLogsRouted = true;
  const lib = log.child({ lib: 'node-opcua' });
  // node-opcua calls these with its caller context first, then the console.log-style arguments.
  const route = (ctx: { filename?: string } | undefined, ...args: unknown[]) =>
    lib.debug({ file: ctx?.filename }, format(...args));
  setWarningLogger(route as Parameters<typeof setWarningLogger>[0]);
  setErrorLogger(route as Parameters<typeof setErrorLogger>[0]);
}

/** The source's PKI store; file watchers off because the adapter reloads it before every connection attempt. */
export async function createCertificateManager(pkiDir: string): Promise<OPCUACertificateManager> {
  const cm = new OPCUACertificateManager({
    rootFolder: pkiDir,
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  } as ConstructorParameters<typeof OPCUACertificateManager>[0]);
  await cm.initialize();
  cm.referenceCounter = 1;
  return cm;
}

/** Creates the gateway's own certificate once (kept across restarts), so it can be given to the server before the first connect. */
export async function ensureOwnCertificate(
  cm: OPCUACertificateManager,
  env: AdapterEnv,
  cfg: OpcuaSourceConfig,
): Promise<string> {
  const file = join(cm.rootDir, 'own', 'certs', 'client_certificate.pem');
  const { existsSync } = await import('node:fs');
  if (!existsSync(file)) {
    const { hostname } = await import('node:os');
    await cm.createSelfSignedCertificate({
      applicationUri: applicationUriOf(env, cfg),
      dns: [hostname()],
      outputFile: file,
      subject: `/CN=plantgate ${cfg.id}@${hostname()}/O=plantgate`,
      startDate: new Date(),
      validity: 365 * 10,
    });
  }
  return file;
}

export function applicationUriOf(env: AdapterEnv, cfg: OpcuaSourceConfig): string {
  return `urn:plantgate:${env.gatewayId}:${cfg.id}`;
}

/** A client with the source's identity, security mode and policy; node-opcua's own reconnection off. */
export function createClient(
  cfg: OpcuaSourceConfig,
  env: AdapterEnv,
  cm: OPCUACertificateManager,
): OPCUAClient {
  return OPCUAClient.create({
    applicationName: 'plantgate',
    applicationUri: applicationUriOf(env, cfg),
    clientName: cfg.id,
    clientCertificateManager: cm,
    securityMode: MODES[cfg.security.mode],
    securityPolicy: POLICIES[policyName(cfg)] as SecurityPolicy,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    keepSessionAlive: cfg.mode === 'poll',
    keepAliveInterval: cfg.mode === 'poll' ? Math.max(1000, Math.floor(cfg.session_timeout / 3)) : undefined,
    requestedSessionTimeout: cfg.session_timeout,
    defaultTransactionTimeout: cfg.request_timeout,
    transportTimeout: cfg.request_timeout,
  } as Parameters<typeof OPCUAClient.create>[0]);
}

/**
 * One session with the source's security, trust list and user identity, for a one-off job (`opcua browse`).
 * Failures are the same sentences the adapter reports (untrusted server certificate, refused client certificate...).
 */
export async function openSession(p: {
  cfg: OpcuaSourceConfig;
  env: AdapterEnv;
  cm: OPCUACertificateManager;
}): Promise<{ session: ClientSession; close(): Promise<void> }> {
  const { cfg, env, cm } = p;
  const pkiDir = pkiDirOf(env.stateDir, cfg.pki_dir);
  const identity = userIdentityOf(cfg.auth as ResolvedOpcuaAuth | undefined);
  await cm.reloadCertificates();
  cm.referenceCounter = Math.max(cm.referenceCounter, 1);
  const client = createClient(cfg, env, cm);
  const close = async () => {
    await withTimeout(client.disconnect(), 3000, 'disconnecting').catch(() => {});
    cm.referenceCounter = 1;
  };
  try {
    await withTimeout(client.connect(cfg.endpoint), cfg.request_timeout + 2000, 'opening the secure channel');
  } catch (err) {
    await close();
    throw explainConnectError(err, cfg, pkiDir, client, 'channel');
  }
  try {
    const session = await withTimeout(
      client.createSession(identity),
      cfg.request_timeout + 2000,
      'creating the session',
    );
    return {
      session,
      close: async () => {
        await withTimeout(session.close(true), 2000, 'closing the session').catch(() => {});
        await close();
      },
    };
  } catch (err) {
    await close();
    throw explainConnectError(err, cfg, pkiDir, client, 'session');
  }
}
