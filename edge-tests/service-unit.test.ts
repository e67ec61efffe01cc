// The shipped starter config under the shipped unit's directories, as an unprivileged service user (issue
// 18.7): the directories the unit makes systemd create (StateDirectory=, RuntimeDirectory=) are created in a
// temp root, owned by `nobody`, and the built daemon runs the starter config there through setpriv. Before
// the unit had RuntimeDirectory=, /run/plantgate did not exist and `run` failed with EACCES mkdir.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { CLI, ROOT, tempDir, waitFor } from './lib/harness.js';

const UNIT = readFileSync(join(ROOT, 'systemd/plantgate.service'), 'utf8');

/** Values of a [Service] directive in the unit (several lines accumulate). */
function directive(name: string): string[] {
  return [...UNIT.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => (m[1] as string).trim());
}

function uidOf(user: string): number | undefined {
  try {
    return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

const isRoot = process.getuid?.() === 0;
const haveSetpriv = existsSync('/usr/bin/setpriv');
const nobody = uidOf('nobody');
const skipReason = !isRoot
  ? 'needs root to create directories owned by another user and to switch to it'
  : !haveSetpriv
    ? 'needs setpriv (util-linux) to run the daemon as an unprivileged user'
    : nobody === undefined
      ? 'needs a "nobody" user'
      : undefined;

// Secrets the starter config references; the values are placeholders.
const SECRETS = {
  PRESS1_OPCUA_PASSWORD: 'x',
  LINE2_MQTT_PASSWORD: 'x',
  CENTRAL_TOKEN: 'x',
  ERP_TOKEN: 'x',
};

describe.skipIf(skipReason !== undefined)(
  `the starter config under the shipped unit as an unprivileged user${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('check-config passes and run becomes ready with only the directories the unit creates', async () => {
      const t = tempDir('plantgate-unit-');
      let child: ChildProcess | undefined;
      try {
        const root = t.dir;
        chmodSync(root, 0o755);
        const uid = nobody as number;
        const gid = uid; // nogroup has the same id as nobody on Debian; chown by number below.
        // What systemd does for the unit before ExecStartPre: /var/lib/<StateDirectory>, /run/<RuntimeDirectory>,
        // owned by User= with the configured modes. /run itself stays root's, as on a real system.
        const made: Record<string, string> = {};
        for (const [key, base] of [
          ['StateDirectory', '/var/lib'],
          ['RuntimeDirectory', '/run'],
        ] as const) {
          for (const name of directive(key).flatMap((v) => v.split(/\s+/))) {
            const dir = join(root, base, name);
            mkdirSync(dir, { recursive: true });
            const mode = directive(`${key}Mode`)[0];
            chmodSync(dir, mode ? Number.parseInt(mode, 8) : 0o755);
            chownSync(dir, uid, gid);
            made[`${base}/${name}`] = dir;
          }
        }
        for (const base of ['/run', '/var/lib', '/var']) {
          if (existsSync(join(root, base))) chmodSync(join(root, base), 0o755);
        }
        // The starter config with its absolute paths moved under the temp root and a free health port.
        const doc = parseDocument(readFileSync(join(ROOT, 'config/starter.yaml'), 'utf8'));
        const move = (p: string) => join(root, p);
        doc.setIn(['storage', 'dir'], move(String(doc.getIn(['storage', 'dir']))));
        const socket = doc.getIn(['admin', 'socket']);
        if (typeof socket === 'string') doc.setIn(['admin', 'socket'], move(socket));
        doc.setIn(['health', 'listen'], '127.0.0.1:0');
        const cfgDir = join(root, 'etc/plantgate');
        mkdirSync(cfgDir, { recursive: true });
        chmodSync(join(root, 'etc'), 0o755);
        chmodSync(cfgDir, 0o755);
        const cfg = join(cfgDir, 'plant.yaml');
        writeFileSync(cfg, doc.toString(), { mode: 0o644 });
        const envFile = join(cfgDir, 'plantgate.env');
        writeFileSync(
          envFile,
          `${Object.entries(SECRETS)
            .map(([k, v]) => `${k}=${v}`)
            .join('\n')}\n`,
          { mode: 0o640 },
        );
        chownSync(envFile, 0, gid);

        const asUser = (args: string[]) => [
          '--reuid=nobody',
          `--regid=${gid}`,
          '--clear-groups',
          process.execPath,
          '--expose-gc',
          CLI,
          ...args,
        ];
        const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, TMPDIR: root };
        // The README's check, as the service user, reading the service's environment file.
        const check = execFileSync('setpriv', asUser(['check-config', '-c', cfg, '--env-file', envFile]), {
          env: baseEnv,
          encoding: 'utf8',
        });
        expect(check).toMatch(/: OK: /);

        let out = '';
        let err = '';
        child = spawn('setpriv', asUser(['run', '-c', cfg]), {
          env: { ...baseEnv, ...SECRETS, PLANTGATE_STOP_DEADLINE_MS: '1000' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child.stdout?.on('data', (b: Buffer) => {
          out += b.toString();
        });
        child.stderr?.on('data', (b: Buffer) => {
          err += b.toString();
        });
        let exitCode: number | null | undefined;
        const exited = new Promise<number | null>((r) =>
          child?.on('exit', (code) => {
            exitCode = code;
            r(code);
          }),
        );
        const health = await waitFor(
          'the daemon to run as nobody',
          () => {
            if (exitCode !== undefined) throw new Error(`exited ${exitCode}: ${err}${out.slice(-2000)}`);
            const m = /"health":\{"host":"([^"]+)","port":(\d+)\}[^\n]*plantgate is running/.exec(out);
            return m ? `http://${m[1]}:${m[2]}` : false;
          },
          { timeoutMs: 60_000, detail: () => `${err}${out.slice(-2000)}` },
        );
        expect((await fetch(`${health}/healthz`)).status).toBe(200);
        const sock =
          typeof socket === 'string' ? move(socket) : join(made['/var/lib/plantgate'] ?? '', 'admin.sock');
        expect(existsSync(sock)).toBe(true);
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      } finally {
        child?.kill('SIGKILL');
        t.cleanup();
      }
    });
  },
);
