// The OPC UA simulator's variables: the plant (a press and a packer, moved by the value model), the `Types`
// folder with one variable of every built-in type a PLC exposes (64-bit integers on both sides of 2^53
// included), and the open62541-style corner of nested folders with numeric NodeIds. Data only: the address
// space is built from it in address-space.ts.
import { DataType } from 'node-opcua';

/** Machine states of Press1.State and Packer3.State. */
export const MACHINE_STATES = ['idle', 'running', 'fault', 'setup'] as const;

export interface VarDef {
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
export const LINE_FOLDERS: ReadonlyArray<{ path: string; nodeId: string }> = [
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

export const PLANT: readonly VarDef[] = [
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

export const PLANT_PATHS: ReadonlySet<string> = new Set(PLANT.map((d) => d.path));
