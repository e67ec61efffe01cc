// The Modbus simulator on its own, seen through a bare modbus-serial client: the register map, the faults it
// injects (exceptions, silence, latency), request counting and a restart that keeps the registers.
import ModbusRTU from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { MAP, type ModbusSim, startModbusSim } from './server.js';

type Client = InstanceType<typeof import('modbus-serial')['default']>;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  opts: Parameters<typeof startModbusSim>[0] = {},
): Promise<{ sim: ModbusSim; client: Client }> {
  const sim = await startModbusSim(opts);
  cleanups.push(() => sim.stop());
  const client = new (ModbusRTU as unknown as typeof import('modbus-serial')['default'])();
  await client.connectTCP(sim.host, { port: sim.port });
  client.setTimeout(300);
  // close() waits for a close event that an already dropped connection never sends again.
  cleanups.push(() =>
    client.isOpen ? new Promise<void>((r) => client.close(() => r())) : Promise.resolve(),
  );
  return { sim, client };
}

function float32(words: number[], wordSwap: boolean): number {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(words[wordSwap ? 1 : 0] as number, 0);
  b.writeUInt16BE(words[wordSwap ? 0 : 1] as number, 2);
  return b.readFloatBE(0);
}

describe('modbus simulator', () => {
  it('listens on an OS-picked port and serves both machines in the documented map', async () => {
    const { sim, client } = await setup({ tickMs: 0 });
    expect(sim.port).toBeGreaterThan(0);
    client.setID(1);
    const press = (await client.readHoldingRegisters(0, 4)).data;
    expect(float32(press.slice(0, 2), false)).toBe(float32(press.slice(2, 4), true));
    expect(float32(press, false)).toBeGreaterThan(1000);
    const lot = (await client.readHoldingRegisters(MAP.lot_id, 4)).buffer.toString('latin1');
    expect(lot).toBe('LOT-0001');
    client.setID(2);
    const packer = (await client.readHoldingRegisters(0, 2)).data;
    expect(float32(packer, false)).toBeGreaterThan(100);
    expect(float32(packer, false)).toBeLessThan(180);
    const counter = (await client.readHoldingRegisters(MAP.counter_abcd, 4)).data;
    expect(counter[0]).toBe(counter[3]);
    expect(counter[1]).toBe(counter[2]);
  });

  it('answers reads outside the map, over 125 registers and injected faults with exceptions', async () => {
    const { sim, client } = await setup({ tickMs: 0 });
    client.setID(1);
    await expect(client.readHoldingRegisters(190, 20)).rejects.toMatchObject({ modbusCode: 2 });
    await expect(client.readHoldingRegisters(0, 126)).rejects.toMatchObject({ modbusCode: 3 });
    await expect(client.readCoils(10, 10)).rejects.toMatchObject({ modbusCode: 2 });
    sim.injectException(1, 'input:3', 4);
    await expect(client.readInputRegisters(0, 5)).rejects.toMatchObject({ modbusCode: 4 });
    await expect(client.readInputRegisters(0, 3)).resolves.toBeDefined();
    sim.injectException(1, 'input:3', 0);
    await expect(client.readInputRegisters(0, 5)).resolves.toBeDefined();
    client.setID(9);
    await expect(client.readHoldingRegisters(0, 1)).rejects.toMatchObject({ modbusCode: 11 });
  });

  it('keeps an offline unit silent, delays answers on demand and counts requests', async () => {
    const { sim, client } = await setup({ tickMs: 0 });
    sim.setOffline(2, true);
    client.setID(2);
    await expect(client.readHoldingRegisters(0, 2)).rejects.toMatchObject({ errno: 'ETIMEDOUT' });
    client.setID(1);
    sim.setLatency(100, 1);
    const t0 = Date.now();
    await client.readHoldingRegisters(0, 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    const st = sim.stats();
    expect(st.byUnit[2]).toBe(1);
    expect(st.byUnit[1]).toBe(1);
    expect(st.byFunction[3]).toBe(2);
  });

  it('restarts on the same port and keeps its registers', async () => {
    const { sim, client } = await setup({ tickMs: 0 });
    sim.write(1, 'holding:150', [4242]);
    const port = sim.port;
    await sim.restart();
    expect(sim.port).toBe(port);
    // The old connection was dropped by the restart; a new one sees the same registers.
    const fresh = new (ModbusRTU as unknown as typeof import('modbus-serial')['default'])();
    await fresh.connectTCP(sim.host, { port });
    fresh.setID(1);
    fresh.setTimeout(300);
    expect((await fresh.readHoldingRegisters(150, 1)).data).toEqual([4242]);
    await new Promise<void>((r) => fresh.close(() => r()));
    expect(client.isOpen).toBe(false);
  });
});
