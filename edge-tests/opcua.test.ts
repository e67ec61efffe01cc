// OPC UA through the built daemon against the simulator: types come from the server (no value_type in the
// YAML; 64-bit integers beyond 2^53 arrive as exact text with value_type integer), a signal whose browse path
// does not resolve makes /status degraded with the signal named (and `plantgate status` says so), and the
// daemon's stdout carries only its own JSON lines: none of node-opcua's console messages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpcuaSim, startOpcuaSim } from '../simulators/opcua/server.js';
import { baseConfig, edgeSuite, runCli, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
let sim: OpcuaSim;
beforeAll(async () => {
  sim = await startOpcuaSim({ tickMs: 0 });
});
afterAll(async () => {
  await sim?.stop();
});

describe('opcua source in the daemon', () => {
  it('delivers server-typed values, names the unresolved signal on /status and in plantgate status, and keeps stdout JSON', async () => {
    const d = suite.dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`, {
      sources: [
        {
          id: 'plc-1',
          type: 'opcua',
          endpoint: sim.endpoint,
          publishing_interval: '100ms',
          reconnect: { initial: '100ms', max: '500ms' },
          signals: [
            { name: 'lab.plc.running', node: 'ns=1;s=Types.Boolean' },
            { name: 'lab.plc.lot', node: 'ns=1;s=Types.String' },
            { name: 'lab.plc.cycle_end', node: 'ns=1;s=Types.DateTime' },
            { name: 'lab.plc.strokes_small', node: 'ns=1;s=Types.UInt64' },
            { name: 'lab.plc.strokes_big', node: 'ns=1;s=Types.UInt64Big' },
            { name: 'lab.plc.pressure', browse_path: 'Objects/1:Line/1:Press/1:Pressure' },
            { name: 'lab.plc.typo', browse_path: 'Objects/1:Line/1:Pres/1:Pressure' },
          ],
        },
      ],
    });
    const file = writeConfig(d, 'plant.yaml', cfg);
    const daemon = await startDaemon(file);

    const records = () => suite.receiver.records();
    await waitFor('six readings at the receiver', () => new Set(records().map((r) => r.signal)).size === 6, {
      timeoutMs: 30_000,
    });
    const by = new Map(records().map((r) => [r.signal, r]));
    expect(by.get('lab.plc.running')?.value).toBe(true);
    expect(by.get('lab.plc.lot')?.value).toBe('LOT-0042');
    expect(by.get('lab.plc.cycle_end')?.value).toBe('2026-11-27T09:59:58.500Z');
    expect(by.get('lab.plc.strokes_small')?.value).toBe(9007199254740991);
    expect(by.get('lab.plc.strokes_small')?.value_type).toBeUndefined();
    expect(by.get('lab.plc.strokes_big')).toMatchObject({
      value: '18446744073709551615',
      value_type: 'integer',
    });
    expect(by.get('lab.plc.pressure')?.value).toBe(151.5);

    const st = await daemon.status();
    expect(st.status).toBe('degraded');
    expect(st.reasons.join('\n')).toMatch(
      /source plc-1: signal lab\.plc\.typo is never read: browse_path "Objects\/1:Line\/1:Pres\/1:Pressure" does not resolve/,
    );
    expect(st.sources['plc-1']?.unresolved_signals).toEqual(['lab.plc.typo']);
    expect(st.sources['plc-1']?.quarantined).toBe(0);

    const human = await runCli(['status', '-c', file]);
    expect(human.stdout).toContain('DEGRADED');
    expect(human.stdout).toMatch(/signal lab\.plc\.typo is never read/);

    await daemon.stop();
    // Every stdout line is one of the daemon's JSON log lines; node-opcua printed nothing anywhere.
    const notJson = daemon.logs().filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return l.trim() !== '';
      }
    });
    expect(notJson).toEqual([]);
    expect(daemon.logs().join('\n')).not.toMatch(/NODE-OPCUA-W\d+/);
    expect(daemon.stderr()).not.toMatch(/NODE-OPCUA|node-opcua/i);
  });
});
