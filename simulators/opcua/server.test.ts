// The OPC UA simulator on its own: seeded values are repeatable, restart keeps port and certificate,
// dropSessions closes what clients opened, every built-in type is served exactly (64-bit integers on both sides
// of 2^53), the open62541-style corner browses by path, and unknown client certificates can be refused.
// Read with bare node-opcua clients (each with its own temp PKI), nothing from the product.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AttributeIds,
  DataType,
  Int64ToBigInt,
  MessageSecurityMode,
  makeBrowsePath,
  OPCUAClient,
  SecurityPolicy,
  UInt64ToBigInt,
} from 'node-opcua';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClientPki, tempClientPki } from './client-pki.js';
import { type OpcuaSim, startOpcuaSim } from './server.js';

const sims: OpcuaSim[] = [];
const pkis: ClientPki[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.stop();
  for (const p of pkis.splice(0)) await p.dispose();
});

/** A bare client with its own temp PKI (never the home folder's). */
async function bareClient(opts: Parameters<typeof OPCUAClient.create>[0] = {}): Promise<OPCUAClient> {
  const pki = await tempClientPki();
  pkis.push(pki);
  return OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    clientCertificateManager: pki.cm,
    ...opts,
  });
}

async function readAll(endpoint: string, nodes: string[]): Promise<unknown[]> {
  const client = await bareClient();
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

    const client = await bareClient();
    await client.connect(endpoint);
    await client.createSession();
    expect(s.sessionCount()).toBe(1);
    expect(s.dropSessions()).toBe(1);
    expect(s.sessionCount()).toBe(0);
    await client.disconnect();
  });

  it('serves every built-in type exactly, 64-bit integers on both sides of 2^53 included', async () => {
    const s = await startOpcuaSim({ tickMs: 0 });
    sims.push(s);
    const client = await bareClient();
    await client.connect(s.endpoint);
    try {
      const session = await client.createSession();
      const names = [
        'Boolean',
        'SByte',
        'Int64',
        'Int64Big',
        'UInt64',
        'UInt64Big',
        'LocalizedText',
        'Int32Array',
      ];
      const dvs = await session.read(
        names.map((n) => ({ nodeId: `ns=1;s=Types.${n}`, attributeId: AttributeIds.Value })),
      );
      const v = (i: number) => dvs[i]?.value;
      expect(v(0)?.dataType).toBe(DataType.Boolean);
      expect(v(0)?.value).toBe(true);
      expect(v(1)?.value).toBe(-100);
      expect(Int64ToBigInt(v(2)?.value)).toBe(-(2n ** 53n - 1n));
      expect(Int64ToBigInt(v(3)?.value)).toBe(-(2n ** 53n + 1n));
      expect(UInt64ToBigInt(v(4)?.value)).toBe(2n ** 53n - 1n);
      expect(UInt64ToBigInt(v(5)?.value)).toBe(2n ** 64n - 1n);
      expect(v(6)?.value.text).toBe('Betrieb');
      expect(Array.from(v(7)?.value as Int32Array)).toEqual([10, 20, 30, 40]);
      const rank = await session.read({
        nodeId: 'ns=1;s=Types.Int32Array',
        attributeId: AttributeIds.ValueRank,
      });
      expect(rank.value.value).toBe(1);
      s.setValue('Types.UInt64Big', 2n ** 53n + 1n);
      const again = await session.read({ nodeId: 'ns=1;s=Types.UInt64Big', attributeId: AttributeIds.Value });
      expect(UInt64ToBigInt(again.value.value)).toBe(2n ** 53n + 1n);
      await session.close();
    } finally {
      await client.disconnect();
    }
  });

  it('resolves browse paths through nested folders with numeric and string NodeIds', async () => {
    const s = await startOpcuaSim({ tickMs: 0 });
    sims.push(s);
    const client = await bareClient();
    await client.connect(s.endpoint);
    try {
      const session = await client.createSession();
      const paths = [
        '/Objects/1:Line',
        '/Objects/1:Line/1:Press',
        '/Objects/1:Line/1:Press/1:Hydraulics/1:OilTemp',
        '/Objects/1:Line/1:Press/1:Recipe',
        '/Objects/1:Press1/1:Hydraulic/1:Pressure',
      ];
      const res = await session.translateBrowsePath(paths.map((p) => makeBrowsePath('RootFolder', p)));
      expect(res.map((r) => r.targets?.[0]?.targetId.toString())).toEqual([
        'ns=1;i=1000',
        'ns=1;i=1001',
        'ns=1;i=1014',
        'ns=1;s=Line.Press.Recipe',
        'ns=1;s=Press1.Hydraulic.Pressure',
      ]);
      await session.close();
    } finally {
      await client.disconnect();
    }
  });

  it('refuses an unknown client certificate when asked to, and accepts it once trusted', async () => {
    const s = await startOpcuaSim({
      tickMs: 0,
      rejectUnknownClients: true,
      securityModes: ['SignAndEncrypt'],
    });
    sims.push(s);
    const pki = await tempClientPki();
    pkis.push(pki);
    const secure = () =>
      OPCUAClient.create({
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 0 },
        clientCertificateManager: pki.cm,
        securityMode: MessageSecurityMode.SignAndEncrypt,
        securityPolicy: SecurityPolicy.Basic256Sha256,
      });
    const refused = secure();
    await expect(
      (async () => {
        await refused.connect(s.endpoint);
        await refused.createSession();
      })(),
    ).rejects.toThrow();
    await refused.disconnect();
    await s.trustClient(join(pki.cm.rootDir, 'own', 'certs', 'client_certificate.pem'));
    const trusted = secure();
    await trusted.connect(s.endpoint);
    const session = await trusted.createSession();
    expect(s.sessionCount()).toBe(1);
    await session.close();
    await trusted.disconnect();
  });
});
