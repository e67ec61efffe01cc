// The .deb under a real systemd (issue 17.3): a cached Debian 12 root boots under systemd-nspawn with systemd
// as PID 1, the package is installed with apt, and the service is driven with systemctl as plant IT would:
// start (Type=notify), watchdog, reload, a broken config, kill -9 with MQTT in flight, stop, journald, the
// hardening score, upgrade, remove and purge. Commands run inside through nsenter into the container's init.
// Run by `npm run test:systemd` (vitest.systemd.config.ts); `npm test` leaves it out (it needs root).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ROOT, tempDir, waitFor } from '../lib/harness.js';

// Highest `systemd-analyze security` exposure the unit may have (0 = locked down, 10 = unprotected). The unit
// scores 1.8 ("OK") under Debian 12's systemd 252.
const MAX_EXPOSURE = 2.0;
// The unit's WatchdogSec=30s would need minutes to prove anything; a drop-in shortens it for the test.
const TEST_WATCHDOG_SEC = 3;
// How long systemd must keep getting pings (issue 17: NRestarts stays 0 over a minute).
const WATCHDOG_PROOF_US = 60_000_000;
const MESSAGES = 300;

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const skipReason =
  process.getuid?.() !== 0
    ? 'needs root: systemd-nspawn boots the container and debootstrap builds its root'
    : !have('systemd-nspawn')
      ? 'needs systemd-nspawn (apt install systemd-container)'
      : !have('debootstrap')
        ? 'needs debootstrap (apt install debootstrap)'
        : !have('dpkg-deb')
          ? 'needs dpkg-deb (apt install dpkg-dev)'
          : !have('nsenter')
            ? 'needs nsenter (util-linux)'
            : undefined;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A booted container: its nspawn process and its init (PID 1 inside), which nsenter joins. */
class Container {
  readonly #nspawn: ChildProcess;
  #leader = 0;
  readonly log: string[] = [];

  constructor(root: string, results: string) {
    this.#nspawn = spawn(
      'systemd-nspawn',
      [
        '--register=no',
        '--keep-unit',
        '--boot',
        // The cached root stays pristine: every write goes to a tmpfs overlay dropped at exit.
        '--volatile=overlay',
        '--console=pipe',
        `--bind=${results}:/results`,
        '-D',
        root,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const s of [this.#nspawn.stdout, this.#nspawn.stderr]) {
      s?.on('data', (d: Buffer) => this.log.push(d.toString()));
    }
  }

  /** Waits until the container's init is known and the system has finished booting. */
  async booted(): Promise<string> {
    const pid = this.#nspawn.pid as number;
    this.#leader = await waitFor(
      'the container init process',
      () => {
        if (this.#nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited: ${this.log.join('')}`);
        for (const e of readdirSync('/proc')) {
          if (!/^\d+$/.test(e)) continue;
          try {
            const st = readFileSync(`/proc/${e}/status`, 'utf8');
            if (new RegExp(`^PPid:\\s+${pid}$`, 'm').test(st) && /^NSpid:\s+\d+\s+1$/m.test(st))
              return Number(e);
          } catch {
            // The process ended while being read.
          }
        }
        return false;
      },
      { timeoutMs: 60_000 },
    );
    // Until systemd has exec'd and opened its socket, systemctl answers "offline".
    return waitFor(
      'the end of the boot',
      () => {
        const state = this.sh('systemctl is-system-running --wait').stdout.trim();
        return state === 'offline' || state === '' ? false : state;
      },
      { timeoutMs: 120_000 },
    );
  }

  run(cmd: string[], input?: string): Run {
    const r = spawnSync(
      'nsenter',
      [
        '-t',
        String(this.#leader),
        '-a',
        '--',
        'env',
        '-i',
        'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
        'LANG=C.UTF-8',
        ...cmd,
      ],
      { encoding: 'utf8', input, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  sh(script: string, input?: string): Run {
    return this.run(['sh', '-c', script], input);
  }

  /** Runs a shell command that must succeed; returns its stdout. */
  ok(script: string, input?: string): string {
    const r = this.sh(script, input);
    if (r.status !== 0)
      throw new Error(`inside the container: ${script}\nexit ${r.status}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  show(prop: string, unit = 'plantgate'): string {
    return this.ok(`systemctl show -p ${prop} --value ${unit}`).trim();
  }

  /** Several properties read in one call, so they describe one moment. */
  props<K extends string>(names: K[], unit = 'plantgate'): Record<K, string> {
    const out = this.ok(`systemctl show ${names.map((n) => `-p ${n}`).join(' ')} ${unit}`);
    const all = Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    for (const n of names) if (!(n in all)) throw new Error(`systemctl show has no ${n}:\n${out}`);
    return all as Record<K, string>;
  }

  async stop(): Promise<void> {
    if (this.#nspawn.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.#nspawn.once('exit', () => r()));
    // SIGTERM asks nspawn for a clean shutdown of the container's systemd.
    this.#nspawn.kill('SIGTERM');
    const timer = setTimeout(() => this.#nspawn.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * CLOCK_MONOTONIC in microseconds: the clock of systemd's *TimestampMonotonic properties. The container has
 * no time namespace of its own, so the host's clock and the container's systemd's are the same clock.
 */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function plantConfig(extraSources: object[] = []): object {
  return {
    gateway: { id: 'ci-edge-01', site: 'ci', timezone: 'Europe/Paris' },
    storage: { dir: '/var/lib/plantgate', max_bytes: '256MiB' },
    health: { listen: '127.0.0.1:9464' },
    sources: [
      {
        id: 'line-1',
        type: 'mqtt',
        url: 'mqtt://127.0.0.1:1883',
        subscriptions: [
          {
            topic: 'ci/line1/telemetry',
            qos: 1,
            payload: 'json',
            signal: 'ci.line1.{key}',
            timestamp: { field: 'ts', unit: 'ms' },
            signals: [{ name: 'ci.line1.count' }],
          },
        ],
      },
      ...extraSources,
    ],
    sinks: [
      {
        id: 'central',
        type: 'http',
        url: 'http://127.0.0.1:18080/central',
        batch: { max_records: 50, max_wait: '200ms' },
        auth: { bearer_env: 'CENTRAL_TOKEN' },
      },
    ],
  };
}

const GENERATOR = {
  id: 'gen-1',
  type: 'generator',
  interval: '1s',
  signals: [{ name: 'ci.gen1.level', shape: 'sine', min: 0, max: 10, period: '1m' }],
};

describe.skipIf(skipReason !== undefined)(
  `the .deb under systemd in a Debian 12 container${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const t = tempDir('plantgate-systemd-');
    const results = join(t.dir, 'results');
    let debName = '';
    let c: Container;
    const timings: Record<string, number> = {};

    /** Puts a file from the test into /etc/plantgate as root:plantgate 0640, as an administrator would. */
    function putEtc(name: string, content: string): void {
      writeFileSync(join(results, name), content);
      c.ok(`install -m 0640 -o root -g plantgate /results/${name} /etc/plantgate/${name}`);
    }

    function status(): {
      pid: number;
      status: string;
      config: { reloads: number; reload_error?: string };
      sources: Record<string, unknown> | { id: string }[];
    } {
      return JSON.parse(c.ok('curl -sf http://127.0.0.1:9464/status'));
    }

    function sourceIds(s: ReturnType<typeof status>): string[] {
      return Array.isArray(s.sources) ? s.sources.map((x) => x.id) : Object.keys(s.sources);
    }

    /** MQTT messages the running gateway's source has taken in since it started. */
    function line(): number {
      return (status().sources as Record<string, { received: number }>)['line-1']?.received ?? 0;
    }

    /**
     * Publishes `count` QoS 1 messages (count values from `first`), paced to about 1 ms each plus 50 ms every
     * 5, from a transient unit so the test can act while they flow. mosquitto_pub -l sends each line as one
     * message; the broker keeps what the gateway has not acknowledged for its persistent session, and the
     * gateway acknowledges only what its journal synced.
     */
    function publish(unit: string, first: number, count: number): void {
      const base = Date.now() - 60_000;
      c.ok(
        `systemd-run --unit=${unit} -p RemainAfterExit=yes sh -c 'i=${first}; while [ $i -lt ${first + count} ]; do ` +
          `echo "{\\"count\\":$i,\\"ts\\":$((${base}+i))}"; i=$((i+1)); ` +
          `[ $((i % 5)) -eq 0 ] && sleep 0.05; done | mosquitto_pub -h 127.0.0.1 -q 1 -t ci/line1/telemetry -l'`,
      );
    }

    async function published(unit: string): Promise<void> {
      await waitFor(`the publisher ${unit}`, () => c.show('SubState', unit) === 'exited', {
        timeoutMs: 60_000,
      });
      expect(c.show('ExecMainStatus', unit)).toBe('0');
    }

    function duplicateBatches(): number {
      const st = JSON.parse(c.ok('curl -sf http://127.0.0.1:18080/_recv/stats')) as {
        paths: Record<string, { duplicate_batches: number }>;
      };
      return st.paths['/central']?.duplicate_batches ?? 0;
    }

    function received(): number {
      const r = c.sh('curl -sf "http://127.0.0.1:18080/_recv/records?path=/central"');
      if (r.status !== 0) return -1;
      const recs = JSON.parse(r.stdout) as { signal?: string; name?: string }[];
      return recs.filter((x) => (x.signal ?? x.name) === 'ci.line1.count').length;
    }

    beforeAll(async () => {
      let t0 = Date.now();
      spawnSync('mkdir', ['-p', results]);
      const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
      debName = `plantgate_${version}_amd64.deb`;
      // CI hands over the package it built (and linted); otherwise build one into the temp dir.
      const given = process.env.PLANTGATE_DEB;
      if (given) {
        copyFileSync(given, join(results, debName));
      } else {
        const b = spawnSync(join(ROOT, 'packaging/build-deb.sh'), ['--out', results], {
          encoding: 'utf8',
          env: { ...process.env, PLANTGATE_DEB_STAGE: join(t.dir, 'stage') },
        });
        if (b.status !== 0) throw new Error(`build-deb.sh failed:\n${b.stdout}${b.stderr}`);
      }
      expect(existsSync(join(results, debName))).toBe(true);
      timings.package = Date.now() - t0;

      t0 = Date.now();
      const r = spawnSync(join(ROOT, 'edge-tests/systemd/bookworm-root.sh'), [], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`bookworm-root.sh failed:\n${r.stderr}`);
      const root = r.stdout.trim();
      timings.root = Date.now() - t0;

      t0 = Date.now();
      c = new Container(root, results);
      const state = await c.booted();
      timings.boot = Date.now() - t0;
      // "degraded" would name a unit of the base system that failed; the service under test is not there yet.
      expect(state, c.ok('systemctl --failed --no-legend || true')).toBe('running');
    }, 480_000);

    afterAll(async () => {
      await c?.stop();
      t.cleanup();
      process.stdout.write(`systemd test timings (ms): ${JSON.stringify(timings)}\n`);
    }, 60_000);

    it('installs with apt: user, tmpfiles, enabled, and not started while the starter config does not check', () => {
      const t0 = Date.now();
      const out = c.ok(`DEBIAN_FRONTEND=noninteractive apt-get install -y /results/${debName} 2>&1`);
      timings.install = Date.now() - t0;
      expect(out).toContain('installed and enabled but NOT started');
      expect(c.ok('systemctl is-enabled plantgate').trim()).toBe('enabled');
      expect(c.sh('systemctl is-active plantgate').stdout.trim()).toBe('inactive');
      expect(c.ok('id -nG plantgate').trim().split(' ')).toEqual(
        expect.arrayContaining(['plantgate', 'dialout']),
      );
      expect(c.ok('stat -c "%a %U %G" /var/lib/plantgate /etc/plantgate /etc/plantgate/plantgate.env')).toBe(
        '750 plantgate plantgate\n750 root plantgate\n640 root plantgate\n',
      );
      // The package's own runtime, not a Node from the system (the container has none).
      expect(c.sh('command -v node').status).not.toBe(0);
      expect(c.ok('/opt/plantgate/node/bin/node --version')).toMatch(/^v24\./);
      expect(c.ok('plantgate --version').trim()).toMatch(/\d+\.\d+\.\d+/);
      // The shipped unit verifies against the systemd that runs it.
      expect(c.sh('systemd-analyze verify plantgate.service').stderr).toBe('');
    });

    it('starts (Type=notify) and is active only once READY arrived; the watchdog keeps it alive', async () => {
      c.ok(
        'systemd-run --unit=ci-receiver -p Type=exec /opt/plantgate/bin/plantgate sim receiver --port 18080',
      );
      await waitFor('the receiver', () => received() >= 0, { timeoutMs: 30_000 });
      expect(c.ok('systemctl is-active mosquitto').trim()).toBe('active');
      c.ok(
        `mkdir -p /etc/systemd/system/plantgate.service.d && printf '[Service]\\nWatchdogSec=${TEST_WATCHDOG_SEC}s\\n' > /etc/systemd/system/plantgate.service.d/ci-watchdog.conf && systemctl daemon-reload`,
      );
      putEtc('plant.yaml', stringify(plantConfig()));
      putEtc('plantgate.env', 'CENTRAL_TOKEN=ci-token-not-a-secret\n');

      const t0 = Date.now();
      // For Type=notify, `systemctl start` returns only when the service has sent READY=1 (or failed).
      c.ok('systemctl start plantgate');
      timings.start = Date.now() - t0;
      expect(c.show('Type')).toBe('notify');
      expect(c.show('ActiveState')).toBe('active');
      expect(c.show('SubState')).toBe('running');
      // The STATUS= the daemon sends with READY=1; /status answers from the main process when start returns.
      expect(c.show('StatusText')).toMatch(/^\d+ sources, \d+ sinks$/);
      expect(status().pid).toBe(Number(c.show('MainPID')));
      // activating -> active took the daemon's startup, not zero time as for a Type=simple service.
      const mainStart = Number(c.show('ExecMainStartTimestampMonotonic'));
      const active = Number(c.show('ActiveEnterTimestampMonotonic'));
      expect(active).toBeGreaterThan(mainStart);

      expect(c.show('WatchdogUSec')).toBe(`${TEST_WATCHDOG_SEC}s`);
      const pid = c.show('MainPID');
      const watchdogUs = TEST_WATCHDOG_SEC * 1_000_000;
      // systemd's timestamps are on this process's clock (see monotonicUs), or every comparison below is moot.
      expect(mainStart).toBeLessThan(monotonicUs());
      expect(mainStart).toBeGreaterThan(monotonicUs() - 5 * 60_000_000);
      // WatchdogTimestampMonotonic is when systemd got the last WATCHDOG=1. Watched until it is a minute past
      // the start (twenty watchdog periods): without pets, systemd would have killed and restarted it after
      // the first, and the timestamp would never get there.
      const pings = new Set<number>();
      let oldestPingUs = 0;
      const t1 = Date.now();
      const end = await waitFor(
        'a watchdog ping a minute after the start',
        () => {
          // Read before asking systemd, so a slow `systemctl show` cannot make a ping look older than it was.
          const now = monotonicUs();
          const p = c.props(['WatchdogTimestampMonotonic', 'NRestarts', 'MainPID', 'ActiveState']);
          const pinged = Number(p.WatchdogTimestampMonotonic);
          pings.add(pinged);
          oldestPingUs = Math.max(oldestPingUs, now - pinged);
          // A restart, another process or an overdue ping ends the watch at once; the checks below say which.
          if (p.NRestarts !== '0' || p.MainPID !== pid || now - pinged >= watchdogUs) return p;
          return pinged >= mainStart + WATCHDOG_PROOF_US ? p : false;
        },
        { timeoutMs: WATCHDOG_PROOF_US / 1000 + 60_000, intervalMs: 500 },
      );
      timings.watchdog = Date.now() - t1;
      process.stdout.write(
        `watchdog: ${pings.size} distinct pings seen in ${timings.watchdog} ms; the oldest last ping seen was ` +
          `${Math.round(oldestPingUs / 1000)} ms old (WatchdogSec=${TEST_WATCHDOG_SEC}s)\n`,
      );
      expect(end.NRestarts).toBe('0');
      expect(end.MainPID).toBe(pid);
      expect(end.ActiveState).toBe('active');
      // Every time it was looked at, the last ping was less than one watchdog period old: the pets kept coming
      // all along, not only right before the end.
      expect(oldestPingUs).toBeLessThan(watchdogUs);
      expect(Number(end.WatchdogTimestampMonotonic)).toBeGreaterThanOrEqual(mainStart + WATCHDOG_PROOF_US);
      // The daemon pets every half period (1.5 s, 40 in the minute); polled every half second plus the time a
      // `systemctl show` takes, the timestamp must at least have been seen moving once per two periods.
      expect(pings.size).toBeGreaterThanOrEqual(WATCHDOG_PROOF_US / (2 * watchdogUs));
    }, 240_000);

    it('reload applies a changed file; a broken file keeps the old config running with the reason on /status', async () => {
      const pid = c.show('MainPID');
      putEtc('plant.yaml', stringify(plantConfig([GENERATOR])));
      c.ok('systemctl reload plantgate');
      const s1 = await waitFor('the reload', () => {
        const s = status();
        return s.config.reloads === 1 ? s : false;
      });
      expect(s1.config.reload_error).toBeUndefined();
      expect(sourceIds(s1)).toEqual(expect.arrayContaining(['line-1', 'gen-1']));

      putEtc('plant.yaml', `${stringify(plantConfig([GENERATOR]))}\nbogus_section: true\n`);
      c.ok('systemctl reload plantgate');
      const s2 = await waitFor('the failed reload on /status', () => {
        const s = status();
        return s.config.reload_error ? s : false;
      });
      expect(s2.config.reload_error).toMatch(/plant\.yaml:\d+:\d+ .*bogus_section/);
      expect(sourceIds(s2)).toEqual(expect.arrayContaining(['line-1', 'gen-1']));
      expect(c.show('ActiveState')).toBe('active');
      expect(c.show('MainPID')).toBe(pid);
    }, 120_000);

    it('a broken file plus a restart exits 78 and does not restart-loop', async () => {
      // The file is still broken from the previous check.
      const r = c.sh('systemctl restart plantgate');
      expect(r.status).not.toBe(0);
      await waitFor('the failed state', () => c.show('ActiveState') === 'failed', { timeoutMs: 30_000 });
      expect(c.show('Result')).toBe('exit-code');
      expect(c.show('ExecMainStatus')).toBe('78');
      // The located reason is in the journal for whoever runs `systemctl status`.
      expect(c.ok('journalctl -u plantgate --no-pager -o cat -n 50')).toMatch(
        /plant\.yaml:\d+:\d+ .*bogus_section/,
      );
      // RestartSec=2s: four of them pass, on systemd's clock, without a new attempt.
      const failedAt = Number(c.show('StateChangeTimestampMonotonic'));
      expect(c.show('RestartUSec')).toBe('2s');
      const restartUs = 2_000_000;
      const last = await waitFor(
        'four RestartSec periods after the failure',
        () => {
          const now = monotonicUs();
          const p = c.props(['ActiveState', 'NRestarts']);
          if (p.ActiveState !== 'failed' || p.NRestarts !== '0') return p;
          return now >= failedAt + 4 * restartUs ? p : false;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(last).toEqual({ ActiveState: 'failed', NRestarts: '0' });

      putEtc('plant.yaml', stringify(plantConfig([GENERATOR])));
      c.ok('systemctl reset-failed plantgate && systemctl start plantgate');
      expect(c.show('ActiveState')).toBe('active');
    }, 120_000);

    it('kill -9 with QoS 1 messages in flight: systemd restarts it and no acknowledged message is lost', async () => {
      expect(c.show('NRestarts')).toBe('0');
      publish('ci-publisher', 0, MESSAGES);
      await waitFor('the first messages at the gateway', () => line() >= 20, {
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      c.ok('systemctl kill -s KILL plantgate');
      await waitFor('the restart', () => c.show('NRestarts') === '1' && c.show('ActiveState') === 'active', {
        timeoutMs: 60_000,
      });
      expect(c.ok('journalctl -u plantgate --no-pager -o cat -n 100')).toMatch(/status=9\/KILL/);
      await published('ci-publisher');
      const n = await waitFor(
        'every published message at the receiver',
        () => {
          const k = received();
          return k >= MESSAGES ? k : false;
        },
        { timeoutMs: 90_000 },
      );
      // The restarted gateway took part of the stream: the kill did land while messages were in flight.
      expect(line()).toBeGreaterThan(0);
      // The receiver keeps records by id: exactly the distinct messages, redeliveries collapsed.
      expect(n).toBe(MESSAGES);
    }, 180_000);

    it('stop drains and persists within TimeoutStopSec; journald holds the JSON log lines', async () => {
      const resentBefore = duplicateBatches();
      const more = 200;
      publish('ci-publisher-2', MESSAGES, more);
      await waitFor('messages flowing', () => line() >= 20, { timeoutMs: 30_000, intervalMs: 50 });
      const limitUs = Number(c.show('TimeoutStopUSec').replace(/s$/, '')) * 1_000_000 || 30_000_000;
      const t0 = Date.now();
      c.ok('systemctl stop plantgate');
      const took = Date.now() - t0;
      timings.stop = took;
      expect(took * 1000).toBeLessThan(limitUs);
      // Not killed at the timeout (Result=timeout, SIGKILL): the daemon finished its shutdown and exited 0.
      expect(c.show('Result')).toBe('success');
      expect(c.show('ExecMainStatus')).toBe('0');

      // Started again, it resumes from persisted cursors: the rest arrives and nothing is sent twice.
      c.ok('systemctl start plantgate');
      await published('ci-publisher-2');
      await waitFor('every message at the receiver', () => received() >= MESSAGES + more, {
        timeoutMs: 90_000,
      });
      expect(received()).toBe(MESSAGES + more);
      expect(duplicateBatches()).toBe(resentBefore);

      const entries = c
        .ok('journalctl -u plantgate --no-pager -o json _TRANSPORT=stdout')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { MESSAGE: string | number[] });
      const messages = entries.map((e) =>
        typeof e.MESSAGE === 'string' ? e.MESSAGE : Buffer.from(e.MESSAGE).toString('utf8'),
      );
      // check-config (ExecStartPre) prints plain text; the daemon logs pino JSON.
      const json = messages
        .filter((m) => m.startsWith('{'))
        .map((m) => JSON.parse(m) as Record<string, unknown>);
      expect(json.length).toBeGreaterThan(3);
      for (const j of json) {
        expect(typeof j.level).toBe('number');
        expect(typeof j.msg).toBe('string');
      }
      // Secrets are never logged.
      expect(messages.join('\n')).not.toContain('ci-token-not-a-secret');
    }, 180_000);

    it(`systemd-analyze security rates the unit at most ${MAX_EXPOSURE}`, () => {
      const out = c.ok('systemd-analyze security --no-pager plantgate.service');
      const m = /Overall exposure level for plantgate\.service: (\d+\.\d+)/.exec(out);
      expect(m, out).not.toBeNull();
      const score = Number(m?.[1]);
      process.stdout.write(`systemd-analyze security: plantgate.service exposure ${score}\n`);
      expect(score).toBeLessThanOrEqual(MAX_EXPOSURE);
    });

    it('an upgrade (reinstall) restarts the service and keeps the configuration', () => {
      c.ok('systemctl start plantgate');
      const pid = c.show('MainPID');
      const yaml = c.ok('cat /etc/plantgate/plant.yaml');
      c.ok(`DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall /results/${debName} 2>&1`);
      expect(c.show('ActiveState')).toBe('active');
      expect(c.show('MainPID')).not.toBe(pid);
      expect(c.ok('cat /etc/plantgate/plant.yaml')).toBe(yaml);
    }, 120_000);

    it('remove stops the service and keeps /var/lib/plantgate; purge deletes it', () => {
      expect(c.ok('ls /var/lib/plantgate')).toMatch(/\S/);
      c.ok('DEBIAN_FRONTEND=noninteractive apt-get remove -y plantgate 2>&1');
      expect(c.sh('systemctl is-active plantgate').stdout.trim()).not.toBe('active');
      expect(c.sh('pgrep -u plantgate').status).not.toBe(0);
      expect(c.sh('test -e /opt/plantgate/bin/plantgate').status).not.toBe(0);
      expect(c.ok('ls /var/lib/plantgate')).toMatch(/\S/);
      expect(c.sh('test -f /etc/plantgate/plant.yaml').status).toBe(0);

      c.ok('DEBIAN_FRONTEND=noninteractive apt-get purge -y plantgate 2>&1');
      expect(c.sh('test -e /var/lib/plantgate').status).not.toBe(0);
      expect(c.sh('test -e /etc/plantgate').status).not.toBe(0);
      expect(c.sh('dpkg -s plantgate').status).not.toBe(0);
    }, 120_000);
  },
);
