// The OPC UA simulator's values: the seeded value model that moves the plant one step per tick, and the
// conversion of a value to the Variant (and a status code number to the StatusCode) node-opcua puts on the wire.
import { DataType, type StatusCode, StatusCodes, Variant, VariantArrayType } from 'node-opcua';
import { mulberry32 } from '../kit/random.js';
import { PLANT } from './variables.js';

/** The value model: plant state that advances one step per tick, from the seed only. */
export class PlantModel {
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

export function statusFromCode(code: number): StatusCode {
  const found = Object.values(StatusCodes).find((c) => c.value === code);
  if (!found) throw new Error(`unknown OPC UA status code 0x${code.toString(16)}`);
  return found;
}

/** A bigint as node-opcua's wire form of Int64/UInt64: [high 32 bits, low 32 bits] of the two's complement. */
function int64Parts(v: bigint): [number, number] {
  const u = BigInt.asUintN(64, v);
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
}

export function makeVariant(d: { dataType: DataType; array?: boolean }, value: unknown): Variant {
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
