// The OPC UA simulator on its own: seeded values are repeatable, restart keeps port and certificate, and
// dropSessions closes what clients opened. Read with a bare node-opcua client, nothing from the product.
import { readFileSync } from 'node:fs';
import { AttributeIds, OPCUAClient } from 'node-opcua';
import { afterEach, describe, expect, it } from 'vitest';
import { type OpcuaSim, startOpcuaSim } from './server.js';

const sims: OpcuaSim[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.stop();
});

async function readAll(endpoint: string, nodes: string[]): Promise<unknown[]> {
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  await client.connect(endpoint);
  try {
    const session = await client.createSession();
    const dvs = await session.read(nodes.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })));
    await session.close();
    return dvs.map((d) => {
      const v = d.value.value as unknown;
      return v instanceof Float64Array ? Array.from(v) : v;
    });
  } finally {
    await client.disconnect();
  }
}

const NODES = [
  'ns=1;s=Press1.Hydraulic.Pressure',
  'ns=1;s=Press1.Oil.Temperature',
  'ns=1;s=Press1.PartCount',
  'ns=1;s=Press1.State',
  'ns=1;s=Press1.LotId',
  'ns=1;s=Press1.Running',
  'ns=1;s=Press1.Vibration',
  'ns=1;s=Packer3.MotorTemp',
  'ns=1;s=Packer3.GoodCount',
  'ns=1;s=Packer3.ScrapCount',
  'ns=1;s=Packer3.State',
];

describe('opcua simulator', () => {
  it('produces the same values for the same seed and different ones for another seed', async () => {
    const [a, b, c] = await Promise.all([7, 7, 8].map((seed) => startOpcuaSim({ seed, tickMs: 0 })));
    sims.push(a as OpcuaSim, b as OpcuaSim, c as OpcuaSim);
    for (const s of [a, b, c]) s?.advance(250);
    const [va, vb, vc] = await Promise.all([a, b, c].map((s) => readAll((s as OpcuaSim).endpoint, NODES)));
    expect(va).toEqual(vb);
    expect(va).not.toEqual(vc);
    expect(va?.[4]).toBe('LOT-0003');
    expect(typeof va?.[0]).toBe('number');
    expect(va?.[6]).toHaveLength(3);
  });

  it('restarts on the same port with the same certificate and drops sessions on demand', async () => {
    const s = await startOpcuaSim({ tickMs: 0 });
    sims.push(s);
    const cert = readFileSync(s.certificateFile, 'utf8');
    const { endpoint, port } = s;
    await s.restart();
    expect(s.port).toBe(port);
    expect(readFileSync(s.certificateFile, 'utf8')).toBe(cert);
    expect(await readAll(endpoint, ['ns=1;s=Press1.LotId'])).toEqual(['LOT-0001']);

    const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
    await client.connect(endpoint);
    await client.createSession();
    expect(s.sessionCount()).toBe(1);
    expect(s.dropSessions()).toBe(1);
    expect(s.sessionCount()).toBe(0);
    await client.disconnect();
  });
});
