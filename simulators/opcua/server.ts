// OPC UA PLC simulator: a node-opcua server with a small plant address space (a press and a packer) whose
// values change deterministically from a seed, a `Types` folder with one variable of every built-in type a PLC
// exposes (64-bit integers on both sides of 2^53 included), and an open62541-style corner: nested folders whose
// NodeIds are numeric (`Objects/1:Line/1:Press/...`, `ns=1;i=1001`). An independent peer: it imports nothing from
// src/ or adapters/, so a test of the gateway against it proves something about real OPC UA behaviour.
// This file runs the server (endpoints, security, restarts, ticks, test controls); the variables are in
// variables.ts, the value model in values.ts, the address space in address-space.ts, the PKI in pki.ts.
import {
  DataType,
  DataValue,
  MessageSecurityMode,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  setErrorLogger,
  setWarningLogger,
  type UAVariable,
  Variant,
} from 'node-opcua';
import { buildAddressSpace, type SimVariable } from './address-space.js';
import { openSimPki } from './pki.js';
import { makeVariant, PlantModel, statusFromCode } from './values.js';
import { PLANT_PATHS, type VarDef } from './variables.js';

export { LINE_VARIABLES, MACHINE_STATES, TYPE_VARIABLES } from './variables.js';

export type SimSecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';

export interface OpcuaSimOptions {
  /** TCP port; 0 (default) lets the OS pick one. */
  port?: number;
  /** Seed of the value model, so two runs with the same seed produce the same values. */
  seed?: number;
  /** Endpoint security modes offered; default all three. Secured modes offer Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss. */
  securityModes?: SimSecurityMode[];
  /** Accepted username/password pairs; anonymous access stays allowed unless `allowAnonymous` is false. */
  users?: Array<{ username: string; password: string }>;
  allowAnonymous?: boolean;
  /** Period of the value model in ms (default 500); 0 freezes the values (tests set them with setValue). */
  tickMs?: number;
  /** Adds N Double variables `ns=1;s=Extra.<i>` (i from 0), all changing every tick, for load tests. */
  extraItems?: number;
  /** PKI directory of the server (own certificate, trusted clients); a temporary one by default. */
  pkiDir?: string;
  /** Server's MaxMonitoredItemsPerCall operation limit (default 10000), lowered by tests to prove chunking. */
  maxMonitoredItemsPerCall?: number;
  /** Hostname put in endpoint URLs (default 127.0.0.1 so tests never depend on DNS). */
  hostname?: string;
  /**
   * Refuse client certificates the server does not trust yet (a real PLC's default), instead of accepting any.
   * The refused certificate lands in `<pkiDir>/server/rejected`; `trustClient` trusts one.
   */
  rejectUnknownClients?: boolean;
}

export interface OpcuaSim {
  readonly endpoint: string;
  readonly port: number;
  /** PEM file of the server's certificate, so a client can put it in its trusted folder. */
  readonly certificateFile: string;
  readonly pkiDir: string;
  /** Stops the server and starts it again on the same port with the same certificate. */
  restart(): Promise<void>;
  /** Closes every session on the server side (clients see BadSessionIdInvalid / BadSessionClosed). */
  dropSessions(): number;
  /** Number of sessions currently open on the server. */
  sessionCount(): number;
  /** Monitored items across all sessions. */
  monitoredItemCount(): number;
  /** Sets a value now; `serverTimestamp` differs from the source timestamp only when given. */
  setValue(
    path: string,
    value: unknown,
    opts?: { status?: number; sourceTimestamp?: Date; serverTimestamp?: Date },
  ): void;
  /** Advances the value model by n ticks now (for tests with tickMs 0). */
  advance(n?: number): void;
  /**
   * Adds a variable `ns=1;s=<path>` to the running server, in folders named by the dots of `path` (made as
   * needed), as a PLC project download would; it is gone after `restart`.
   */
  addVariable(path: string, dataType: DataType, value: unknown): void;
  /** Trusts a client certificate (PEM or DER file), as a server administrator would. */
  trustClient(certificateFile: string): Promise<void>;
  /** Number of value-model ticks applied since start. */
  readonly ticks: number;
  stop(): Promise<void>;
}

/**
 * Sends node-opcua's own warnings and errors (certificate dumps, `[NODE-OPCUA-W27] ... --security-revert`) to
 * `write` as one line each instead of the library's console.log on stdout; `write` undefined drops them. For
 * processes that run the simulator and print their own output (`plantgate sim opcua`, the demo).
 */
export function routeLibraryMessages(write?: (line: string) => void): void {
  const route = (ctx: { filename?: string } | undefined, ...args: unknown[]) => {
    if (!write) return;
    const text = args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
    write(`node-opcua ${ctx?.filename ?? ''}: ${text.replace(/\s+/g, ' ').trim()}`);
  };
  setWarningLogger(route as Parameters<typeof setWarningLogger>[0]);
  setErrorLogger(route as Parameters<typeof setErrorLogger>[0]);
}

const POLICIES = [
  SecurityPolicy.Basic256Sha256,
  SecurityPolicy.Aes128_Sha256_RsaOaep,
  SecurityPolicy.Aes256_Sha256_RsaPss,
];

function toMode(m: SimSecurityMode): MessageSecurityMode {
  return m === 'None'
    ? MessageSecurityMode.None
    : m === 'Sign'
      ? MessageSecurityMode.Sign
      : MessageSecurityMode.SignAndEncrypt;
}

export async function startOpcuaSim(opts: OpcuaSimOptions = {}): Promise<OpcuaSim> {
  const pki = await openSimPki(opts.pkiDir, opts.rejectUnknownClients === true);
  const { dir: pkiDir, certificateFile } = pki;
  const seed = opts.seed ?? 1;
  const tickMs = opts.tickMs ?? 500;
  const extra = opts.extraItems ?? 0;
  const hostname = opts.hostname ?? '127.0.0.1';
  const users = opts.users ?? [];
  const model = new PlantModel(seed);
  let port = opts.port ?? 0;
  let server: OPCUAServer | undefined;
  let vars = new Map<string, SimVariable>();
  let extraVars: UAVariable[] = [];
  /** Adds one variable to the running address space (set by boot). */
  let addDef: (d: VarDef) => void = () => {};
  let timer: NodeJS.Timeout | undefined;
  let ticks = 0;
  let stopped = false;

  async function boot(): Promise<void> {
    // The certificate managers are shared across restarts; each server takes a reference so its shutdown
    // does not dispose them.
    pki.reference();
    const s = new OPCUAServer({
      port,
      hostname,
      alternateHostname: [],
      securityModes: (opts.securityModes ?? ['None', 'Sign', 'SignAndEncrypt']).map(toMode),
      securityPolicies: [SecurityPolicy.None, ...POLICIES],
      allowAnonymous: opts.allowAnonymous ?? true,
      serverCertificateManager: pki.serverCm,
      userCertificateManager: pki.userCm,
      certificateFile,
      userManager: {
        isValidUser: (username: string, password: string) =>
          users.some((u) => u.username === username && u.password === password),
      },
      serverInfo: {
        applicationUri: 'urn:plantgate:sim:opcua',
        productUri: 'plantgate-opcua-sim',
        applicationName: { text: 'plantgate OPC UA simulator' },
      },
      buildInfo: { productName: 'plantgate OPC UA simulator', manufacturerName: 'plantgate' },
      serverCapabilities: {
        maxSessions: 50,
        operationLimits: { maxMonitoredItemsPerCall: opts.maxMonitoredItemsPerCall ?? 10000 },
      },
    });
    await s.initialize();
    const addressSpace = s.engine.addressSpace;
    if (!addressSpace) throw new Error('the simulator address space did not initialize');
    ({ vars, extraVars, addDef } = buildAddressSpace(addressSpace, model, extra, ticks));
    await s.start();
    port = s.endpoints[0]?.port ?? port;
    server = s;
  }

  function tick(): void {
    const now = new Date();
    model.step(now);
    ticks += 1;
    for (const [path, { v, d }] of vars) {
      // Only the plant's variables move; Types/, Line/ and Extra/ have their own values.
      if (!model.values.has(path) || !PLANT_PATHS.has(path)) continue;
      const value = model.values.get(path);
      v.setValueFromSource(makeVariant(d, value), StatusCodes.Good, now);
    }
    for (let i = 0; i < extraVars.length; i++) {
      (extraVars[i] as UAVariable).setValueFromSource(
        new Variant({ dataType: DataType.Double, value: ticks + i / 1e6 }),
        StatusCodes.Good,
        now,
      );
    }
  }

  function startTicks(): void {
    if (tickMs > 0 && !stopped) timer = setInterval(tick, tickMs);
  }
  function stopTicks(): void {
    if (timer) clearInterval(timer);
    timer = undefined;
  }

  async function shutdownServer(): Promise<void> {
    const s = server;
    server = undefined;
    if (s) await s.shutdown(0);
  }

  await boot();
  startTicks();

  const sim: OpcuaSim = {
    get endpoint() {
      return `opc.tcp://${hostname}:${port}`;
    },
    get port() {
      return port;
    },
    certificateFile,
    pkiDir,
    get ticks() {
      return ticks;
    },
    advance(n = 1) {
      for (let i = 0; i < n; i++) tick();
    },
    addVariable(path, dataType, value) {
      if (vars.has(path)) throw new Error(`the simulator already has a variable "${path}"`);
      addDef({ path, dataType, initial: value, description: 'added at runtime' });
    },
    async trustClient(file) {
      await pki.trustClient(file);
    },
    async restart() {
      stopTicks();
      await shutdownServer();
      await boot();
      startTicks();
    },
    dropSessions() {
      const engine = server?.engine as unknown as
        | {
            _sessions: Record<string, { authenticationToken: import('node-opcua').NodeId }>;
            closeSession(t: import('node-opcua').NodeId, del: boolean, reason: string): void;
          }
        | undefined;
      if (!engine) return 0;
      const sessions = Object.values(engine._sessions);
      for (const s of sessions) engine.closeSession(s.authenticationToken, true, 'Forcing');
      return sessions.length;
    },
    sessionCount() {
      return server?.engine.currentSessionCount ?? 0;
    },
    monitoredItemCount() {
      const engine = server?.engine as unknown as
        | { _sessions: Record<string, { currentMonitoredItemCount: number }> }
        | undefined;
      if (!engine) return 0;
      return Object.values(engine._sessions).reduce((a, s) => a + s.currentMonitoredItemCount, 0);
    },
    setValue(path, value, o = {}) {
      const entry = vars.get(path);
      if (!entry) throw new Error(`the simulator has no variable "${path}"`);
      model.values.set(path, value);
      const status = o.status === undefined ? StatusCodes.Good : statusFromCode(o.status);
      if (o.serverTimestamp === undefined) {
        entry.v.setValueFromSource(makeVariant(entry.d, value), status, o.sourceTimestamp ?? new Date());
        return;
      }
      // setValueFromSource stamps both timestamps alike; a PLC whose clock differs from the server's needs both.
      const dv = new DataValue({
        value: makeVariant(entry.d, value),
        statusCode: status,
        sourceTimestamp: o.sourceTimestamp ?? new Date(),
        serverTimestamp: o.serverTimestamp,
      });
      (entry.v as unknown as { _internal_set_dataValue(d: DataValue): void })._internal_set_dataValue(dv);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      stopTicks();
      await shutdownServer();
      await pki.dispose();
    },
  };
  return sim;
}
