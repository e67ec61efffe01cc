// OPC UA PLC simulator: a node-opcua server with a small plant address space (a press and a packer) whose
// values change deterministically from a seed, a `Types` folder with one variable of every built-in type a PLC
// exposes (64-bit integers on both sides of 2^53 included), and an open62541-style corner: nested folders whose
// NodeIds are numeric (`Objects/1:Line/1:Press/...`, `ns=1;i=1001`). An independent peer: it imports nothing from
// src/ or adapters/, so a test of the gateway against it proves something about real OPC UA behaviour.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataType,
  DataValue,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  type StatusCode,
  StatusCodes,
  setErrorLogger,
  setWarningLogger,
  type UAVariable,
  Variant,
  VariantArrayType,
} from 'node-opcua';

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

/** Machine states of Press1.State and Packer3.State. */
export const MACHINE_STATES = ['idle', 'running', 'fault', 'setup'] as const;

interface VarDef {
  path: string;
  dataType: DataType;
  array?: boolean;
  initial: unknown;
  description: string;
  unit?: string;
  /** NodeId identifier within ns=1 when not `s=<path>` (e.g. `i=1010`). */
  nodeId?: string;
}

/** 2^53: the first integer a double cannot tell from its neighbour. */
const TWO53 = 2n ** 53n;

/**
 * One variable of each built-in type, under Objects/1:Types (`ns=1;s=Types.<Name>`), with fixed values (tests set
 * others with setValue). Int64/UInt64 values are bigints; the wire carries them exactly.
 */
export const TYPE_VARIABLES: readonly VarDef[] = [
  { path: 'Types.Boolean', dataType: DataType.Boolean, initial: true, description: 'Boolean' },
  { path: 'Types.SByte', dataType: DataType.SByte, initial: -100, description: 'SByte' },
  { path: 'Types.Byte', dataType: DataType.Byte, initial: 200, description: 'Byte' },
  { path: 'Types.Int16', dataType: DataType.Int16, initial: -30000, description: 'Int16' },
  { path: 'Types.UInt16', dataType: DataType.UInt16, initial: 60000, description: 'UInt16' },
  { path: 'Types.Int32', dataType: DataType.Int32, initial: -2000000000, description: 'Int32' },
  { path: 'Types.UInt32', dataType: DataType.UInt32, initial: 4000000000, description: 'UInt32' },
  { path: 'Types.Int64', dataType: DataType.Int64, initial: -(TWO53 - 1n), description: 'Int64 within 2^53' },
  {
    path: 'Types.Int64Big',
    dataType: DataType.Int64,
    initial: -(TWO53 + 1n),
    description: 'Int64 beyond 2^53',
  },
  { path: 'Types.UInt64', dataType: DataType.UInt64, initial: TWO53 - 1n, description: 'UInt64 within 2^53' },
  {
    path: 'Types.UInt64Big',
    dataType: DataType.UInt64,
    initial: 2n ** 64n - 1n,
    description: 'UInt64 beyond 2^53',
  },
  { path: 'Types.Float', dataType: DataType.Float, initial: 47.3, description: 'Float' },
  { path: 'Types.Double', dataType: DataType.Double, initial: 1523.25, description: 'Double' },
  { path: 'Types.String', dataType: DataType.String, initial: 'LOT-0042', description: 'String' },
  {
    path: 'Types.DateTime',
    dataType: DataType.DateTime,
    initial: new Date('2026-11-27T09:59:58.500Z'),
    description: 'DateTime',
  },
  {
    path: 'Types.LocalizedText',
    dataType: DataType.LocalizedText,
    initial: { locale: 'de-DE', text: 'Betrieb' },
    description: 'LocalizedText',
  },
  {
    path: 'Types.DoubleArray',
    dataType: DataType.Double,
    array: true,
    initial: [1.5, 2.5, 3.5],
    description: 'Array of Double',
  },
  {
    path: 'Types.Int32Array',
    dataType: DataType.Int32,
    array: true,
    initial: [10, 20, 30, 40],
    description: 'Array of Int32',
  },
];

/** Folders of the open62541-style corner: browse path below Objects -> numeric NodeId in ns=1. */
const LINE_FOLDERS: ReadonlyArray<{ path: string; nodeId: string }> = [
  { path: 'Line', nodeId: 'i=1000' },
  { path: 'Line.Press', nodeId: 'i=1001' },
  { path: 'Line.Press.Hydraulics', nodeId: 'i=1002' },
];

/** Variables of the open62541-style corner; most with numeric NodeIds, one with a string id in a numeric folder. */
export const LINE_VARIABLES: readonly VarDef[] = [
  {
    path: 'Line.Speed',
    nodeId: 'i=1010',
    dataType: DataType.Double,
    initial: 12.5,
    description: 'Line speed',
  },
  {
    path: 'Line.Press.Pressure',
    nodeId: 'i=1011',
    dataType: DataType.Double,
    initial: 151.5,
    description: 'Press pressure',
    unit: 'bar',
  },
  {
    path: 'Line.Press.Strokes',
    nodeId: 'i=1012',
    dataType: DataType.UInt64,
    initial: TWO53 + 7n,
    description: 'Strokes since commissioning',
  },
  {
    path: 'Line.Press.Mode',
    nodeId: 'i=1013',
    dataType: DataType.String,
    initial: 'AUTO',
    description: 'Mode',
  },
  {
    path: 'Line.Press.Recipe',
    nodeId: 's=Line.Press.Recipe',
    dataType: DataType.String,
    initial: 'R-17',
    description: 'Recipe',
  },
  {
    path: 'Line.Press.Hydraulics.OilTemp',
    nodeId: 'i=1014',
    dataType: DataType.Float,
    initial: 41.5,
    description: 'Oil temperature',
    unit: 'Cel',
  },
];

const PLANT: VarDef[] = [
  {
    path: 'Press1.Hydraulic.Pressure',
    dataType: DataType.Double,
    initial: 1500,
    description: 'Hydraulic pressure',
    unit: '[psi]',
  },
  {
    path: 'Press1.Oil.Temperature',
    dataType: DataType.Float,
    initial: 45,
    description: 'Oil temperature',
    unit: 'Cel',
  },
  {
    path: 'Press1.PartCount',
    dataType: DataType.UInt32,
    initial: 0,
    description: 'Parts pressed since reset',
  },
  {
    path: 'Press1.State',
    dataType: DataType.Int32,
    initial: 1,
    description: 'Machine state: 0 idle, 1 running, 2 fault, 3 setup',
  },
  { path: 'Press1.LotId', dataType: DataType.String, initial: 'LOT-0001', description: 'Current lot id' },
  {
    path: 'Press1.Running',
    dataType: DataType.Boolean,
    initial: true,
    description: 'True while the press cycles',
  },
  {
    path: 'Press1.LastCycle',
    dataType: DataType.DateTime,
    initial: new Date(0),
    description: 'End of the last press cycle',
  },
  {
    path: 'Press1.Vibration',
    dataType: DataType.Double,
    array: true,
    initial: [0, 0, 0],
    description: 'Vibration RMS of 3 axes',
    unit: 'mm/s',
  },
  {
    path: 'Packer3.MotorTemp',
    dataType: DataType.Double,
    initial: 60,
    description: 'Motor temperature',
    unit: '[degF]',
  },
  { path: 'Packer3.GoodCount', dataType: DataType.UInt32, initial: 0, description: 'Good packs' },
  { path: 'Packer3.ScrapCount', dataType: DataType.UInt32, initial: 0, description: 'Scrapped packs' },
  {
    path: 'Packer3.State',
    dataType: DataType.Int32,
    initial: 1,
    description: 'Machine state: 0 idle, 1 running, 2 fault, 3 setup',
  },
];

const PLANT_PATHS: ReadonlySet<string> = new Set(PLANT.map((d) => d.path));

/** Small deterministic PRNG (mulberry32): the same seed gives the same sequence of value changes. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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

/** The value model: plant state that advances one step per tick, from the seed only. */
class PlantModel {
  readonly #rnd: () => number;
  n = 0;
  values = new Map<string, unknown>();
  constructor(seed: number) {
    this.#rnd = mulberry32(seed);
    for (const d of PLANT) this.values.set(d.path, d.initial);
  }
  step(now: Date): void {
    const r = this.#rnd;
    const n = ++this.n;
    const v = this.values;
    v.set('Press1.Hydraulic.Pressure', 1500 + 300 * Math.sin(n / 20) + (r() - 0.5) * 20);
    v.set('Press1.Oil.Temperature', 45 + 10 * Math.sin(n / 200) + (r() - 0.5));
    const pressState = r() < 0.01 ? 2 : r() < 0.01 ? 3 : 1;
    v.set('Press1.State', pressState);
    v.set('Press1.Running', pressState === 1);
    if (pressState === 1) {
      v.set('Press1.PartCount', ((v.get('Press1.PartCount') as number) + 1) >>> 0);
      v.set('Press1.LastCycle', now);
    }
    if (n % 100 === 0) v.set('Press1.LotId', `LOT-${String(n / 100 + 1).padStart(4, '0')}`);
    v.set('Press1.Vibration', [r() * 5, r() * 5, r() * 8]);
    v.set('Packer3.MotorTemp', 140 + 20 * Math.sin(n / 50) + (r() - 0.5) * 2);
    const packerState = r() < 0.02 ? 0 : 1;
    v.set('Packer3.State', packerState);
    if (packerState === 1) {
      if (r() < 0.05) v.set('Packer3.ScrapCount', ((v.get('Packer3.ScrapCount') as number) + 1) >>> 0);
      else v.set('Packer3.GoodCount', ((v.get('Packer3.GoodCount') as number) + 1) >>> 0);
    }
  }
}

function statusFromCode(code: number): StatusCode {
  const found = Object.values(StatusCodes).find((c) => c.value === code);
  if (!found) throw new Error(`unknown OPC UA status code 0x${code.toString(16)}`);
  return found;
}

/** A bigint as node-opcua's wire form of Int64/UInt64: [high 32 bits, low 32 bits] of the two's complement. */
function int64Parts(v: bigint): [number, number] {
  const u = BigInt.asUintN(64, v);
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
}

function makeVariant(d: { dataType: DataType; array?: boolean }, value: unknown): Variant {
  if (d.array) {
    const arr = value as number[];
    return new Variant({
      dataType: d.dataType,
      arrayType: VariantArrayType.Array,
      value:
        d.dataType === DataType.Double
          ? Float64Array.from(arr)
          : d.dataType === DataType.Int32
            ? Int32Array.from(arr)
            : arr,
    });
  }
  if ((d.dataType === DataType.Int64 || d.dataType === DataType.UInt64) && typeof value === 'bigint') {
    return new Variant({
      dataType: d.dataType,
      arrayType: VariantArrayType.Scalar,
      value: int64Parts(value),
    });
  }
  return new Variant({ dataType: d.dataType, value });
}

export async function startOpcuaSim(opts: OpcuaSimOptions = {}): Promise<OpcuaSim> {
  const ownPki = opts.pkiDir === undefined;
  const pkiDir = opts.pkiDir ?? mkdtempSync(join(tmpdir(), 'plantgate-opcua-sim-'));
  const seed = opts.seed ?? 1;
  const tickMs = opts.tickMs ?? 500;
  const extra = opts.extraItems ?? 0;
  const hostname = opts.hostname ?? '127.0.0.1';
  const users = opts.users ?? [];
  const model = new PlantModel(seed);
  let port = opts.port ?? 0;
  let server: OPCUAServer | undefined;
  let vars = new Map<string, { v: UAVariable; d: VarDef | { dataType: DataType; array?: boolean } }>();
  let extraVars: UAVariable[] = [];
  /** Adds one variable to the running address space (set by boot). */
  let addDef: (d: VarDef) => void = () => {};
  let timer: NodeJS.Timeout | undefined;
  let ticks = 0;
  let stopped = false;

  const serverCm = new OPCUACertificateManager({
    rootFolder: join(pkiDir, 'server'),
    automaticallyAcceptUnknownCertificate: opts.rejectUnknownClients !== true,
  });
  const userCm = new OPCUACertificateManager({
    rootFolder: join(pkiDir, 'users'),
    automaticallyAcceptUnknownCertificate: true,
  });
  await serverCm.initialize();
  await userCm.initialize();
  const certificateFile = join(pkiDir, 'server', 'own', 'certs', 'certificate.pem');

  async function boot(): Promise<void> {
    // The certificate managers are shared across restarts; each server takes a reference so its shutdown
    // does not dispose them.
    serverCm.referenceCounter++;
    userCm.referenceCounter++;
    const s = new OPCUAServer({
      port,
      hostname,
      alternateHostname: [],
      securityModes: (opts.securityModes ?? ['None', 'Sign', 'SignAndEncrypt']).map(toMode),
      securityPolicies: [SecurityPolicy.None, ...POLICIES],
      allowAnonymous: opts.allowAnonymous ?? true,
      serverCertificateManager: serverCm,
      userCertificateManager: userCm,
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
    const ns = addressSpace.getOwnNamespace();
    const folders = new Map<string, import('node-opcua').UAObject>();
    const objectsFolder = addressSpace.rootFolder.objects;
    const folderFor = (path: string[]): import('node-opcua').UAObject => {
      let parent = objectsFolder as unknown as import('node-opcua').UAObject;
      for (let i = 0; i < path.length; i++) {
        const key = path.slice(0, i + 1).join('.');
        let f = folders.get(key);
        if (!f) {
          f = ns.addObject({
            organizedBy: i === 0 ? objectsFolder : undefined,
            componentOf: i === 0 ? undefined : parent,
            browseName: path[i] as string,
            nodeId: `s=${key}`,
          });
          folders.set(key, f);
        }
        parent = f;
      }
      return parent;
    };
    vars = new Map();
    const now = new Date();
    for (const d of PLANT) {
      const parts = d.path.split('.');
      const v = ns.addVariable({
        componentOf: folderFor(parts.slice(0, -1)),
        browseName: parts[parts.length - 1] as string,
        nodeId: `s=${d.path}`,
        dataType: d.dataType,
        valueRank: d.array ? 1 : -1,
        ...(d.array ? { arrayDimensions: [(d.initial as unknown[]).length] } : {}),
        description: d.unit ? `${d.description} [${d.unit}]` : d.description,
        minimumSamplingInterval: 0,
        accessLevel: 'CurrentRead | CurrentWrite',
        userAccessLevel: 'CurrentRead | CurrentWrite',
      });
      v.setValueFromSource(makeVariant(d, model.values.get(d.path)), StatusCodes.Good, now);
      vars.set(d.path, { v, d });
    }
    // Types/ and Line/: fixed values (kept across restarts once set with setValue).
    for (const f of LINE_FOLDERS) {
      const parts = f.path.split('.');
      const parentPath = parts.slice(0, -1).join('.');
      const parent = parentPath ? folders.get(parentPath) : undefined;
      folders.set(
        f.path,
        ns.addObject({
          organizedBy: parent ? undefined : objectsFolder,
          componentOf: parent,
          browseName: parts[parts.length - 1] as string,
          nodeId: f.nodeId,
          typeDefinition: 'FolderType',
        }),
      );
    }
    addDef = (d: VarDef) => {
      const parts = d.path.split('.');
      const parent = folders.get(parts.slice(0, -1).join('.')) ?? folderFor(parts.slice(0, -1));
      const v = ns.addVariable({
        componentOf: parent,
        browseName: parts[parts.length - 1] as string,
        nodeId: d.nodeId ?? `s=${d.path}`,
        dataType: d.dataType,
        valueRank: d.array ? 1 : -1,
        ...(d.array ? { arrayDimensions: [(d.initial as unknown[]).length] } : {}),
        description: d.unit ? `${d.description} [${d.unit}]` : d.description,
        minimumSamplingInterval: 0,
        accessLevel: 'CurrentRead | CurrentWrite',
        userAccessLevel: 'CurrentRead | CurrentWrite',
      });
      const value = model.values.has(d.path) ? model.values.get(d.path) : d.initial;
      v.setValueFromSource(makeVariant(d, value), StatusCodes.Good, new Date());
      vars.set(d.path, { v, d });
    };
    for (const d of [...TYPE_VARIABLES, ...LINE_VARIABLES]) addDef(d);
    extraVars = [];
    if (extra > 0) {
      const folder = ns.addObject({ organizedBy: objectsFolder, browseName: 'Extra', nodeId: 's=Extra' });
      for (let i = 0; i < extra; i++) {
        const v = ns.addVariable({
          componentOf: folder,
          browseName: `Item${i}`,
          nodeId: `s=Extra.${i}`,
          dataType: DataType.Double,
          minimumSamplingInterval: 0,
        });
        v.setValueFromSource(
          new Variant({ dataType: DataType.Double, value: ticks + i / 1e6 }),
          StatusCodes.Good,
          now,
        );
        vars.set(`Extra.${i}`, { v, d: { dataType: DataType.Double } });
        extraVars.push(v);
      }
    }
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
      const raw = readFileSync(file);
      const der = raw.includes('-----BEGIN') ? Buffer.from(new X509Certificate(raw).raw) : raw;
      await serverCm.trustCertificate(der);
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
      await serverCm.dispose();
      await userCm.dispose();
      if (ownPki) rmSync(pkiDir, { recursive: true, force: true });
    },
  };
  return sim;
}
