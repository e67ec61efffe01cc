// One connection to an OPC UA server, from secure channel to data: session, browse-path resolution, then either
// a subscription with monitored items (created in chunks within the server's operation limits) or polled reads.
// node-opcua's own reconnection is switched off: the adapter throws a broken connection away and builds a new
// one, so every subscription and monitored item is recreated from the configuration, never half-restored.
// The parts live beside it: session.ts (secure channel, identity, refusals), items.ts (address resolution and
// type checks), reading.ts (monitored items and polled reads); this file keeps the lifecycle that ties them.
import type { ClientSession, ClientSubscription, OPCUACertificateManager } from 'node-opcua';
import type { Logger } from 'pino';
import type { AdapterEnv } from '../kit/types.js';
import type { OpcuaSourceConfig, ResolvedOpcuaAuth } from './config.js';
import type { ConnectionHooks } from './hooks.js';
import { describeItems, findResolved, readLimits, resolveItems, type Unresolved } from './items.js';
import { pkiDirOf } from './pki.js';
import { poll, subscribe } from './reading.js';
import { createClient, explainConnectError, message, userIdentityOf, withTimeout } from './session.js';

export type { ConnectionHooks } from './hooks.js';
// The adapter (on start, so config checks never pay for node-opcua) and `opcua browse` load only this module.
export {
  applicationUriOf,
  createCertificateManager,
  ensureOwnCertificate,
  openSession,
  refusedClientCertificateMessage,
  routeLibraryLogs,
  userIdentityOf,
} from './session.js';

export interface Connection {
  /** Resolves (never rejects) with a sentence once the connection is unusable; the adapter then closes it. */
  readonly lost: Promise<string>;
  readonly monitoredItems: number;
  readonly failedItems: number;
  close(): Promise<void>;
}

export interface OpenParams {
  cfg: OpcuaSourceConfig;
  env: AdapterEnv;
  cm: OPCUACertificateManager;
  log: Logger;
  hooks: ConnectionHooks;
  signal: AbortSignal;
}

export async function openConnection(p: OpenParams): Promise<Connection> {
  const { cfg, env, cm, hooks } = p;
  const pkiDir = pkiDirOf(env.stateDir, cfg.pki_dir);
  const identity = userIdentityOf(cfg.auth as ResolvedOpcuaAuth | undefined);
  // An operator may have moved a certificate into trusted/ since the last attempt.
  await cm.reloadCertificates();
  // The clients share one certificate manager and each one "disposes" it on disconnect: keep our own reference.
  cm.referenceCounter = Math.max(cm.referenceCounter, 1);
  const client = createClient(cfg, env, cm);

  let lostResolve: (reason: string) => void = () => {};
  let isLost = false;
  const lost = new Promise<string>((resolve) => {
    lostResolve = resolve;
  });
  const markLost = (reason: string) => {
    if (isLost) return;
    isLost = true;
    lostResolve(reason);
  };

  let session: ClientSession | undefined;
  let subscription: ClientSubscription | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let recheck: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let closed = false;
  let monitored = 0;
  let failed = 0;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= doClose();
    return closing;
  };
  const doClose = async (): Promise<void> => {
    closed = true;
    markLost('closed by the gateway');
    if (watchdog) clearInterval(watchdog);
    if (recheck) clearInterval(recheck);
    if (pollTimer) clearTimeout(pollTimer);
    const s = session;
    session = undefined;
    subscription = undefined;
    // A dead server never answers: bound every goodbye, then drop everything so nothing outlives the attempt.
    if (s) {
      await withTimeout(s.close(true), 2000, 'closing the session').catch(() => {});
      s.removeAllListeners();
    }
    await withTimeout(client.disconnect(), 3000, 'disconnecting').catch(() => {});
    client.removeAllListeners();
    cm.referenceCounter = 1;
  };

  client.on('close', (err?: Error | null) =>
    markLost(err ? `the connection closed: ${err.message}` : 'the connection closed'),
  );
  client.on('connection_lost', () => markLost('the connection to the server was lost'));
  client.on('timed_out_request', () => hooks.count('timed_out_requests'));
  // Invalid-session handling: node-opcua would quietly try to re-create the session; a session the server no
  // longer knows means its subscriptions are gone too, so the whole connection is rebuilt at once instead of
  // waiting for missed keep-alives.
  client.on('receive_response', (res: { responseHeader?: { serviceResult?: { name?: string } } }) => {
    const name = res.responseHeader?.serviceResult?.name;
    if (
      name &&
      /^Bad(SessionIdInvalid|SessionClosed|SessionNotActivated|NoSubscription|SubscriptionIdInvalid)$/.test(
        name,
      )
    ) {
      hooks.count('session_invalid');
      markLost(`the server answered ${name}`);
    }
  });

  const onAbort = () => {
    void close();
  };
  p.signal.addEventListener('abort', onAbort, { once: true });

  try {
    try {
      await withTimeout(
        client.connect(cfg.endpoint),
        cfg.request_timeout + 2000,
        'opening the secure channel',
      );
    } catch (err) {
      throw explainConnectError(err, cfg, pkiDir, client, 'channel');
    }
    try {
      session = await withTimeout(
        client.createSession(identity),
        cfg.request_timeout + 2000,
        'creating the session',
      );
    } catch (err) {
      throw explainConnectError(err, cfg, pkiDir, client, 'session');
    }
    session.on('session_closed', () => markLost('the server closed the session'));
    session.on('keepalive_failure', () => markLost('the session keep-alive failed'));

    const limits = await readLimits(session);
    const unresolved: Unresolved[] = [];
    const items = await resolveItems(session, cfg, limits.translate, hooks, unresolved);
    await describeItems(session, items, limits.read, cfg, hooks);

    if (cfg.mode === 'subscribe') {
      const r = await subscribe(session, cfg, items, limits.monitor, hooks, markLost, unresolved);
      subscription = r.subscription;
      monitored = r.monitored;
      failed = r.failed;
      // Keep-alive detection: a silent subscription (half-open TCP, frozen server) is declared lost after
      // three missed keep-alives, whatever the socket says.
      const sub = subscription;
      let lastSeen = Date.now();
      const seen = () => {
        lastSeen = Date.now();
      };
      sub.on('keepalive', () => {
        seen();
        hooks.count('keepalives');
      });
      sub.on('raw_notification', seen);
      const period = Math.max(sub.publishingInterval, 10) * Math.max(sub.maxKeepAliveCount, 1);
      const deadline = period * 3 + 1000;
      watchdog = setInterval(
        () => {
          if (Date.now() - lastSeen > deadline) {
            hooks.count('keepalive_timeouts');
            markLost(
              `no publish response (data or keep-alive) for ${Math.round((Date.now() - lastSeen) / 1000)} s`,
            );
          }
        },
        Math.min(1000, Math.max(100, Math.floor(period / 2))),
      );
    } else {
      monitored = items.length;
      const loop = async () => {
        if (closed || !session) return;
        const t0 = Date.now();
        try {
          await poll(session, items, limits.read, cfg, hooks);
        } catch (err) {
          markLost(`a read failed: ${message(err)}`);
          return;
        }
        if (closed) return;
        const elapsed = Date.now() - t0;
        if (elapsed > cfg.poll_interval) hooks.count('poll_overruns');
        pollTimer = setTimeout(() => void loop(), Math.max(0, cfg.poll_interval - elapsed));
      };
      await poll(session, items, limits.read, cfg, hooks);
      pollTimer = setTimeout(() => void loop(), cfg.poll_interval);
    }
    if (unresolved.length > 0) {
      // A PLC download may add the missing nodes: look for them again at the reconnect cadence; once one
      // resolves, the connection is rebuilt so that every signal is read (and the problem goes away).
      let busy = false;
      const s = session;
      recheck = setInterval(
        () => {
          if (busy || closed) return;
          busy = true;
          void findResolved(s, unresolved, limits.translate)
            .then((found) => {
              if (found && !closed) {
                hooks.count('resolved_later');
                markLost(`signal ${found} now resolves on the server; rebuilding the connection to read it`);
              }
            })
            .catch(() => {})
            .finally(() => {
              busy = false;
            });
        },
        Math.max(cfg.reconnect.max, 200),
      );
    }
  } catch (err) {
    p.signal.removeEventListener('abort', onAbort);
    await close();
    throw err;
  }
  void lost.then(() => p.signal.removeEventListener('abort', onAbort));

  return {
    lost,
    get monitoredItems() {
      return monitored;
    },
    get failedItems() {
      return failed;
    },
    close,
  };
}
