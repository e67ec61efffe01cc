// The native-garbage guard: past its threshold it runs a full collection, which frees closed iterators' buffers,
// when node was started with --expose-gc (as the launcher starts the daemon); without the flag it forces nothing,
// never turns the flag on at run time, and says so once. Each case runs in a fresh node process, because whether
// `gc` exists is decided when the process starts.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const MODULE = join(import.meta.dirname, 'native-garbage.ts');

interface ChildReport {
  forced: boolean;
  afterSmall: number;
  afterLarge: number;
  gcType: string;
  logs: Array<{ level: number; msg: string }>;
}

/** Below the threshold, past it, then the mode logged twice: what the guard did, as the child saw it. */
async function runGuard(nodeFlags: string[]): Promise<{ report: ChildReport; stderr: string }> {
  const script = `
    import { pino } from 'pino';
    import { forcedCollections, logCollectionMode, nativeGarbageCollections, noteIteratorGarbage } from ${JSON.stringify(MODULE)};
    const logs = [];
    const log = pino({ level: 'info' }, { write: (l) => logs.push(JSON.parse(l)) });
    const tick = () => new Promise((r) => setImmediate(r));
    const before = nativeGarbageCollections();
    noteIteratorGarbage(1024);
    await tick();
    const afterSmall = nativeGarbageCollections() - before;
    noteIteratorGarbage(64 * 1024 * 1024);
    await tick();
    const afterLarge = nativeGarbageCollections() - before;
    logCollectionMode(log);
    logCollectionMode(log);
    process.stdout.write(JSON.stringify({
      forced: forcedCollections(), afterSmall, afterLarge, gcType: typeof globalThis.gc,
      logs: logs.map((l) => ({ level: l.level, msg: l.msg })),
    }));
  `;
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: join(import.meta.dirname, '../..'), env: { ...process.env, NODE_OPTIONS: '' } },
  );
  return { report: JSON.parse(stdout) as ChildReport, stderr };
}

describe('native garbage guard', () => {
  it('with --expose-gc: collects once enough native memory is waiting for collection, and not before', async () => {
    const { report, stderr } = await runGuard(['--expose-gc']);
    expect(report.forced).toBe(true);
    expect(report.afterSmall).toBe(0);
    expect(report.afterLarge).toBe(1);
    // Nothing to say when collections can be forced.
    expect(report.logs).toEqual([]);
    expect(stderr).toBe('');
  }, 30_000);

  it('without --expose-gc: forces nothing, leaves gc unexposed, and says so once at info', async () => {
    const { report, stderr } = await runGuard([]);
    expect(report.forced).toBe(false);
    expect(report.afterSmall).toBe(0);
    expect(report.afterLarge).toBe(0);
    // The flag was not turned on at run time: the global `gc` still does not exist.
    expect(report.gcType).toBe('undefined');
    expect(report.logs).toHaveLength(1);
    expect(report.logs[0]?.level).toBe(30);
    expect(report.logs[0]?.msg).toMatch(/Forced garbage collections are off .*--expose-gc/);
    expect(stderr).toBe('');
  }, 30_000);
});
