// One connection to an OPC UA server, from secure channel to data: session, browse-path resolution, then either
// a subscription with monitored items (created in chunks within the server's operation limits) or polled reads.
// node-opcua's own reconnection is switched off: the adapter throws a broken connection away and builds a new
// one, so every subscription and monitored item is recreated from the configuration, never half-restored.
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { format } from 'node:util';
import {
  AttributeIds,
  type ClientMonitoredItemBase,
  type ClientSession,
  type ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  DataType,
  type DataValue,
  DeadbandType,
  findBasicDataType,
  MessageSecurityMode,
  makeBrowsePath,
  type NodeId,
  OPCUACertificateManager,
  OPCUAClient,
  type ReadValueIdOptions,
  resolveNodeId,
  SecurityPolicy,
  setErrorLogger,
  setWarningLogger,
  TimestampsToReturn,
  type UserIdentityInfo,
  UserTokenType,
  VariableIds,
} from 'node-opcua';
import type { Logger } from 'pino';
import { readPem } from '../../src/config/tls.js';
import { ConfigError, PlantgateError } from '../../src/errors.js';
import type { RawSample } from '../../src/model/records.js';
import type { AdapterEnv } from '../types.js';
import type { OpcuaSignalConfig, OpcuaSourceConfig, ResolvedOpcuaAuth } from './config.js';
import {
  listRejected,
  pkiDirOf,
  thumbprintOf,
  UntrustedServerCertificateError,
  untrustedServerMessage,
} from './pki.js';
import { type CanonicalType, canonicalTypeOf, type ItemSpec, isArrayVariant, toSample } from './values.js';

/** Upper bound of items per CreateMonitoredItems / Read / TranslateBrowsePaths call even when the server sets none. */
const MAX_CHUNK = 2000;

export interface ConnectionHooks {
  /** Samples of one DataChangeNotification (or one poll): pushed synchronously into the adapter's queue. */
  onSamples(samples: RawSample[]): void;
  /**
   * A per-signal problem that needs a person (unknown node, browse path that does not resolve, array without
   * index, a value_type that contradicts the server's DataType); the adapter logs it once and shows it on
   * /status. `unresolved`: the signal cannot be read at all.
   */
  onProblem(key: string, signal: string, message: string, unresolved?: boolean): void;
  /** The problem under `key` is gone (a polled node answers again). */
  clearProblem(key: string): void;
  count(counter: string, n?: number): void;
}

export interface Connection {
  /** Resolves (never rejects) with a sentence once the connection is unusable; the adapter then closes it. */
  readonly lost: Promise<string>;
  readonly monitoredItems: number;
  readonly failedItems: number;
  close(): Promise<void>;
}

interface ResolvedItem extends ItemSpec {
  cfg: OpcuaSignalConfig;
  /** From the node's DataType attribute (subtypes resolved to their built-in type), when it could be read. */
  serverType?: CanonicalType;
  dataTypeName?: string;
  /** The array-without-index problem is reported once per item and connection. */
  arrayReported?: boolean;
}

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

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
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

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function limitOf(v: unknown): number {
  const n = typeof v === 'number' ? v : 0;
  return n > 0 ? Math.min(n, MAX_CHUNK) : MAX_CHUNK;
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
function explainConnectError(
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

function monitoringKey(s: OpcuaSignalConfig, cfg: OpcuaSourceConfig): string {
  return JSON.stringify([
    s.sampling_interval ?? cfg.publishing_interval,
    s.queue_size ?? 1,
    s.deadband ?? null,
  ]);
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
function createClient(cfg: OpcuaSourceConfig, env: AdapterEnv, cm: OPCUACertificateManager): OPCUAClient {
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

async function readLimits(
  session: ClientSession,
): Promise<{ monitor: number; read: number; translate: number }> {
  const ids = [
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
    VariableIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIds,
  ];
  try {
    const dvs = await session.read(
      ids.map((i) => ({ nodeId: resolveNodeId(i), attributeId: AttributeIds.Value })),
    );
    const v = dvs.map((d) => (d.statusCode.isGood() ? d.value.value : 0));
    return { monitor: limitOf(v[0]), read: limitOf(v[1]), translate: limitOf(v[2]) };
  } catch {
    // Servers without operation limits: stay with our own bound.
    return { monitor: MAX_CHUNK, read: MAX_CHUNK, translate: MAX_CHUNK };
  }
}

/** A declared signal whose address did not resolve at connect, looked for again while connected. */
interface Unresolved {
  signal: string;
  path?: string;
  node?: string;
}

function browsePathOf(path: string) {
  return makeBrowsePath('RootFolder', `/${path.replace(/^\//, '')}`);
}

/** The name of the first unresolved signal that resolves now, if any. */
async function findResolved(
  session: ClientSession,
  unresolved: readonly Unresolved[],
  chunk: number,
): Promise<string | undefined> {
  const paths = unresolved.filter((u) => u.path !== undefined);
  for (const part of chunks(paths, chunk)) {
    const results = await session.translateBrowsePath(part.map((u) => browsePathOf(u.path as string)));
    const i = results.findIndex((r) => r.statusCode.isGood() && (r.targets?.length ?? 0) > 0);
    if (i >= 0) return part[i]?.signal;
  }
  const nodes = unresolved.filter((u) => u.node !== undefined);
  for (const part of chunks(nodes, chunk)) {
    const dvs = await session.read(
      part.map((u) => ({ nodeId: u.node as string, attributeId: AttributeIds.NodeClass })),
    );
    const i = dvs.findIndex((d) => d.statusCode.isGood());
    if (i >= 0) return part[i]?.signal;
  }
  return undefined;
}

async function resolveItems(
  session: ClientSession,
  cfg: OpcuaSourceConfig,
  chunk: number,
  hooks: ConnectionHooks,
  unresolved: Unresolved[],
): Promise<ResolvedItem[]> {
  const items: ResolvedItem[] = [];
  const byPath: Array<{ s: OpcuaSignalConfig; path: string }> = [];
  for (const s of cfg.signals) {
    if (s.node !== undefined) items.push(itemOf(s, s.node));
    else byPath.push({ s, path: s.browse_path as string });
  }
  for (const part of chunks(byPath, chunk)) {
    const results = await session.translateBrowsePath(part.map(({ path }) => browsePathOf(path)));
    part.forEach(({ s, path }, i) => {
      const r = results[i];
      const target = r?.targets?.[0];
      if (!r?.statusCode.isGood() || !target) {
        hooks.count('items_failed');
        unresolved.push({ signal: s.name, path });
        hooks.onProblem(
          `path:${s.name}`,
          s.name,
          `signal ${s.name} is never read: browse_path "${path}" does not resolve on ${cfg.endpoint} (${r?.statusCode.name ?? 'no result'}); check the browse names and namespace indexes (plantgate opcua browse ${cfg.id} lists them)`,
          true,
        );
        return;
      }
      items.push(itemOf(s, target.targetId.toString()));
    });
  }
  return items;
}

/** Value-rule keys that only make sense for numbers. */
const NUMERIC_RULES = ['unit', 'canonical_unit', 'scale', 'range', 'max_rate_of_change', 'deadband'] as const;

/**
 * Reads the DataType and ValueRank of every item (chunked within the server's read limit) and checks them
 * against the signal: a `value_type` that contradicts the server's type, numeric rules on a Boolean or String,
 * an array without `index`, an `index` on a scalar. Each is a problem that names the signal; reading goes on
 * (the explicit `value_type` wins; the pipeline quarantines what does not fit). A server that refuses these
 * reads only costs the checks: the values still carry their type.
 */
async function describeItems(
  session: ClientSession,
  items: ResolvedItem[],
  chunk: number,
  cfg: OpcuaSourceConfig,
  hooks: ConnectionHooks,
): Promise<void> {
  const per = Math.max(1, Math.floor(chunk / 3));
  const builtIn = new Map<string, DataType | undefined>();
  for (const part of chunks(items, per)) {
    let dvs: DataValue[];
    try {
      dvs = await session.read(
        part.flatMap((it) => [
          { nodeId: it.address, attributeId: AttributeIds.DataType },
          { nodeId: it.address, attributeId: AttributeIds.ValueRank },
          { nodeId: it.address, attributeId: AttributeIds.ArrayDimensions },
        ]),
      );
    } catch {
      return;
    }
    for (let i = 0; i < part.length; i++) {
      const it = part[i] as ResolvedItem;
      const dt = dvs[3 * i];
      const rank = dvs[3 * i + 1];
      const dims = dvs[3 * i + 2];
      if (!dt?.statusCode.isGood()) continue;
      const id = dt.value.value as NodeId;
      const key = id.toString();
      if (!builtIn.has(key)) {
        // ns=0;i=1..25 are the built-in types themselves; anything else (Duration, UtcTime, an enumeration, a
        // vendor subtype) is walked up to its built-in supertype once per connection.
        const direct =
          id.namespace === 0 && typeof id.value === 'number' && id.value <= 25 ? id.value : undefined;
        let t: DataType | undefined = direct as DataType | undefined;
        if (t === undefined) t = await findBasicDataType(session, id).catch(() => undefined);
        builtIn.set(key, t);
      }
      const t = builtIn.get(key);
      if (t !== undefined) {
        const ct = canonicalTypeOf(t);
        if (ct !== undefined) it.serverType = ct;
        it.dataTypeName = DataType[t];
      }
      const valueRank = rank?.statusCode.isGood() ? (rank.value.value as number) : undefined;
      const d = dims?.statusCode.isGood() ? (dims.value.value as ArrayLike<number> | null) : null;
      const length = d && d.length === 1 && (d[0] as number) > 0 ? (d[0] as number) : undefined;
      checkDeclared(it, valueRank, length, cfg, hooks);
    }
  }
}

function checkDeclared(
  it: ResolvedItem,
  valueRank: number | undefined,
  length: number | undefined,
  cfg: OpcuaSourceConfig,
  hooks: ConnectionHooks,
): void {
  const s = it.cfg;
  const where = `node ${it.address} on ${cfg.endpoint}`;
  const server = it.serverType;
  const explicit = s.value_type;
  if (server !== undefined && explicit !== undefined && !compatible(explicit, server)) {
    hooks.onProblem(
      `type:${s.name}`,
      s.name,
      `signal ${s.name} declares value_type: ${explicit} but ${where} has DataType ${it.dataTypeName} (${server}); remove value_type to take the server's type, or correct it`,
    );
  } else if (
    server !== undefined &&
    explicit === undefined &&
    (server === 'boolean' || server === 'string')
  ) {
    const rules = NUMERIC_RULES.filter((k) => s[k] !== undefined);
    if (rules.length > 0) {
      hooks.onProblem(
        `type:${s.name}`,
        s.name,
        `signal ${s.name} has ${rules.join(', ')}, which apply to numbers, but ${where} has DataType ${it.dataTypeName} (${server}); remove them or read another variable`,
      );
    }
  } else hooks.clearProblem(`type:${s.name}`);
  // ValueRank: -1 scalar, 0 or more an array; -2 (any) and -3 (scalar or 1-D) are decided by the values.
  if (valueRank !== undefined && valueRank >= 0 && it.index === undefined && !it.arrayReported) {
    it.arrayReported = true;
    hooks.count('array_without_index');
    hooks.onProblem(
      `array:${s.name}`,
      s.name,
      `node ${it.address} of signal ${s.name} on ${cfg.endpoint} is an array${length === undefined ? '' : ` of ${length} elements`}; add "index: <n>" to the signal (one signal per element)`,
    );
  }
  if (valueRank === -1 && it.index !== undefined) {
    hooks.onProblem(
      `index:${s.name}`,
      s.name,
      `signal ${s.name} has index: ${it.index} but ${where} is not an array; remove index`,
    );
  }
}

/** Whether a configured value_type can hold the server's type without contradicting it. */
function compatible(explicit: CanonicalType, server: CanonicalType): boolean {
  if (explicit === server || explicit === 'string') return true;
  // An integer is a number; a Double read as integer is refused per value (not_integer), not per signal.
  return (explicit === 'number' && server === 'integer') || (explicit === 'integer' && server === 'number');
}

function itemOf(s: OpcuaSignalConfig, address: string): ResolvedItem {
  const it: ResolvedItem = { signal: s.name, address, timestamp: s.timestamp, cfg: s };
  if (s.index !== undefined) it.index = s.index;
  return it;
}

function readValueId(it: ResolvedItem): ReadValueIdOptions {
  const r: ReadValueIdOptions = { nodeId: it.address, attributeId: AttributeIds.Value };
  if (it.index !== undefined) r.indexRange = String(it.index) as unknown as ReadValueIdOptions['indexRange'];
  return r;
}

/** Array values without `index` are a configuration problem: said once, and the sample is still emitted (quarantined as bad_type). */
function checkArray(it: ResolvedItem, dv: DataValue, cfg: OpcuaSourceConfig, hooks: ConnectionHooks): void {
  if (it.index === undefined && !it.arrayReported && isArrayVariant(dv.value)) {
    it.arrayReported = true;
    const n = (dv.value.value as ArrayLike<unknown> | null)?.length ?? 0;
    hooks.count('array_without_index');
    hooks.onProblem(
      `array:${it.signal}`,
      it.signal,
      `node ${it.address} of signal ${it.signal} on ${cfg.endpoint} is an array of ${n} elements; add "index: <n>" to the signal (one signal per element)`,
    );
  }
}

async function subscribe(
  session: ClientSession,
  cfg: OpcuaSourceConfig,
  items: ResolvedItem[],
  chunk: number,
  hooks: ConnectionHooks,
  markLost: (reason: string) => void,
  unresolved: Unresolved[],
): Promise<{ subscription: ClientSubscription; monitored: number; failed: number }> {
  const subscription = await session.createSubscription2({
    requestedPublishingInterval: cfg.publishing_interval,
    requestedMaxKeepAliveCount: cfg.keepalive_count,
    requestedLifetimeCount: cfg.keepalive_count * 6,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 10,
  });
  subscription.on('status_changed', (status: { name?: string }) => {
    if (status.name !== 'GoodSubscriptionTransferred')
      markLost(`the server changed the subscription status to ${status.name ?? String(status)}`);
  });
  subscription.on('terminated', () => markLost('the subscription was terminated'));
  subscription.on('internal_error', (err: Error) => markLost(`the subscription failed: ${err.message}`));

  // Notifications of one publish response arrive as a burst of synchronous "changed" events: gather them and
  // hand them over once, so one DataChangeNotification becomes one emit.
  let batch: RawSample[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const b = batch;
    batch = [];
    if (b.length > 0) hooks.onSamples(b);
  };
  const attrs = cfg.attrs;
  const onChanged = (it: ResolvedItem, dv: DataValue) => {
    checkArray(it, dv, cfg, hooks);
    batch.push(toSample(it, dv, attrs));
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };

  const groups = new Map<string, ResolvedItem[]>();
  for (const it of items) {
    const k = monitoringKey(it.cfg, cfg);
    const g = groups.get(k);
    if (g) g.push(it);
    else groups.set(k, [it]);
  }
  let monitored = 0;
  let failed = 0;
  for (const group of groups.values()) {
    const first = group[0] as ResolvedItem;
    const db = first.cfg.deadband;
    const params = {
      samplingInterval: first.cfg.sampling_interval ?? cfg.publishing_interval,
      queueSize: first.cfg.queue_size ?? 1,
      discardOldest: true,
      ...(db
        ? {
            filter: new DataChangeFilter({
              trigger: DataChangeTrigger.StatusValue,
              deadbandType: db.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
              deadbandValue: db.value,
            }),
          }
        : {}),
    };
    for (const part of chunks(group, chunk)) {
      const g = await subscription.monitorItems(part.map(readValueId), params, TimestampsToReturn.Both);
      hooks.count('create_monitored_items_calls');
      g.on('changed', (_mi: ClientMonitoredItemBase, dv: DataValue, index: number) => {
        const it = part[index];
        if (it) onChanged(it, dv);
      });
      g.monitoredItems.forEach((mi, i) => {
        const it = part[i] as ResolvedItem;
        if (mi.statusCode.isGood()) {
          monitored += 1;
          return;
        }
        failed += 1;
        if (/^BadNodeId/.test(mi.statusCode.name)) unresolved.push({ signal: it.signal, node: it.address });
        hooks.onProblem(
          `item:${it.signal}`,
          it.signal,
          `signal ${it.signal} is never read: node ${it.address} cannot be monitored on ${cfg.endpoint}: ${mi.statusCode.name}`,
          true,
        );
      });
    }
  }
  return { subscription, monitored, failed };
}

async function poll(
  session: ClientSession,
  items: ResolvedItem[],
  chunk: number,
  cfg: OpcuaSourceConfig,
  hooks: ConnectionHooks,
): Promise<void> {
  for (const part of chunks(items, chunk)) {
    const dvs = await session.read(part.map(readValueId), 0);
    hooks.count('reads');
    const samples: RawSample[] = [];
    dvs.forEach((dv, i) => {
      const it = part[i] as ResolvedItem;
      if (dv.statusCode.name === 'BadNodeIdUnknown') {
        hooks.onProblem(
          `item:${it.signal}`,
          it.signal,
          `signal ${it.signal} is never read: node ${it.address} does not exist on ${cfg.endpoint} (BadNodeIdUnknown)`,
          true,
        );
      } else hooks.clearProblem(`item:${it.signal}`);
      checkArray(it, dv, cfg, hooks);
      samples.push(toSample(it, dv, cfg.attrs));
    });
    hooks.onSamples(samples);
  }
}
