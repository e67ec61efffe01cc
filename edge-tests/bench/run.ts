// `npm run bench`: runs every benchmark in one process, one after the other (the machine is shared and noisy,
// so each figure is printed next to a raw baseline measured in the same run, as a ratio).
// Usage: node dist/edge-tests/bench/run.js [--quick] [journal forward mqtt stages modbus opcua nats]
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  target?: string;
}

type Runner = (opts: { quick?: boolean; log?: (s: string) => void }) => Promise<BenchResult[]>;

const SUITES: Array<{ id: string; module: string; fn: string }> = [
  { id: 'journal', module: './journal-bench.js', fn: 'runJournalBench' },
  { id: 'forward', module: './forward-bench.js', fn: 'runForwardBench' },
  { id: 'mqtt', module: './mqtt-bench.js', fn: 'runMqttBench' },
  { id: 'stages', module: './ingest-stages-bench.js', fn: 'runIngestStagesBench' },
  { id: 'modbus', module: './modbus-bench.js', fn: 'runModbusBench' },
  { id: 'opcua', module: './opcua-bench.js', fn: 'runOpcuaBench' },
  { id: 'nats', module: './nats-bench.js', fn: 'runNatsBench' },
];

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return (Math.round(n * 100) / 100).toString();
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const only = args.filter((a) => !a.startsWith('--'));
  const rows: Array<BenchResult & { suite: string }> = [];
  let failed = 0;
  for (const s of SUITES) {
    if (only.length > 0 && !only.includes(s.id)) continue;
    process.stdout.write(`\n== ${s.id}\n`);
    try {
      const mod = (await import(s.module)) as Record<string, Runner>;
      const run = mod[s.fn];
      if (!run) throw new Error(`${s.module} does not export ${s.fn}`);
      const results = await run({ quick, log: (line) => process.stdout.write(`${line}\n`) });
      for (const r of results) rows.push({ ...r, suite: s.id });
    } catch (err) {
      failed += 1;
      process.stdout.write(
        `benchmark ${s.id} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
  }
  process.stdout.write('\n== summary (value | raw baseline in the same run | ratio)\n');
  for (const r of rows) {
    process.stdout.write(
      `${r.suite.padEnd(8)} ${r.name.padEnd(58)} ${fmt(r.value).padStart(12)} ${r.unit.padEnd(12)} ${fmt(r.baseline).padStart(12)} ${r.ratio === undefined || r.baseline === undefined ? '' : `${(r.ratio * 100).toFixed(0)} %`}${r.target ? `  (target ${r.target})` : ''}\n`,
    );
  }
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
