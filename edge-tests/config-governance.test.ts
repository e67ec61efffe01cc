// Configuration governance with the built daemon: the fingerprint check-config prints is the one /status shows and
// the one the receiver gets as `Plantgate-Config`; every applied configuration lands in the history that `plantgate
// config history|show|diff` read; the approval gate refuses unsigned, wrongly signed, tampered and revoked files at
// start (exit 78) and at reload (the running configuration stays, /status says why).
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasSshKeygen, makeSshKey, signConfig, writeApprovers } from '../src/config/test-support.js';
import { baseConfig, edgeSuite, runCli, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();

interface ConfigStatus {
  fingerprint?: string;
  applied_how?: string;
  applied_at?: string;
  approved_by?: { identity: string; key: string };
  reload_error?: string;
  reloads: number;
}

async function printedFingerprint(file: string): Promise<string> {
  const r = await runCli(['check-config', '-c', file]);
  expect(r.code).toBe(0);
  const m = /^fingerprint: (sha256:[0-9a-f]{64})$/m.exec(r.stdout);
  if (!m) throw new Error(`no fingerprint in: ${r.stdout}`);
  return m[1] as string;
}

async function history(file: string): Promise<Array<{ hash: string; how: string; approval?: unknown }>> {
  const r = await runCli(['config', 'history', '-c', file, '--json']);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Array<{ hash: string; how: string }>;
}

describe('configuration fingerprint and history', () => {
  it('check-config, /status and the Plantgate-Config header agree; a reload is recorded and diffable', async () => {
    const d = suite.dir();
    const cfg = baseConfig(d, `${suite.receiver.url}/ingest`);
    const file = writeConfig(d, 'plant.yaml', cfg);
    const first = await printedFingerprint(file);
    const p = await startDaemon(file);
    const s1 = (await p.status()).config as unknown as ConfigStatus;
    expect(s1.fingerprint).toBe(first);
    expect(s1.applied_how).toBe('start');
    await waitFor('a batch at the receiver', () => suite.receiver.stats().records > 0);
    expect(suite.receiver.lastHeaders('/ingest')?.['plantgate-config']).toBe(first);
    expect((await history(file)).map((e) => [e.hash, e.how])).toEqual([[first, 'start']]);

    // A reload that changes nothing keeps the fingerprint and adds no entry.
    p.kill('SIGHUP');
    await waitFor('the unchanged reload', async () => (await p.status()).config.reloads === 1);
    expect(((await p.status()).config as unknown as ConfigStatus).fingerprint).toBe(first);

    // A real change: the range of a signal.
    const next = structuredClone(cfg) as {
      sources: Array<{ signals: Array<Record<string, unknown>> }>;
    } & Record<string, unknown>;
    (next.sources[0]?.signals[0] as Record<string, unknown>).range = [0, 70];
    writeConfig(d, 'plant.yaml', next);
    const second = await printedFingerprint(file);
    expect(second).not.toBe(first);
    p.kill('SIGHUP');
    await waitFor('the new fingerprint on /status', async () => {
      const c = (await p.status()).config as unknown as ConfigStatus;
      return c.fingerprint === second && c.applied_how === 'reload';
    });
    // A batch built before the reload may still arrive; the ones after it carry the new fingerprint.
    await waitFor(
      'a batch with the new header',
      () => suite.receiver.lastHeaders('/ingest')?.['plantgate-config'] === second,
    );
    // The three readers side by side: each is a CLI process start.
    const [entries, diff, show] = await Promise.all([
      history(file),
      runCli(['config', 'diff', '-c', file, first.slice(7, 19), second.slice(7, 19)]),
      runCli(['config', 'show', '-c', file, second.slice(0, 16)]),
    ]);
    expect(entries.map((e) => [e.hash, e.how])).toEqual([
      [second, 'reload'],
      [first, 'start'],
    ]);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain('[affects data] signal lab.line1.temperature: range set to [0, 70]');
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`# ${second}`);
    expect(show.stdout).toContain('- 70');
    await p.stop();
  });
});

describe.skipIf(!hasSshKeygen())(
  'approval gate (skipped: ssh-keygen missing; install openssh-client)',
  () => {
    function setup() {
      const d = suite.dir();
      const alice = makeSshKey(d, 'alice');
      const mallory = makeSshKey(d, 'mallory');
      const approvers = join(d, 'approvers');
      writeApprovers(approvers, [{ identity: 'alice@plant', pub: alice.pub }]);
      const cfg = baseConfig(d, `${suite.receiver.url}/ingest`, {
        gateway: {
          id: 'edge-test-01',
          site: 'lab',
          timezone: 'Europe/Paris',
          require_approval: { approvers_file: approvers },
        },
      });
      const file = writeConfig(d, 'plant.yaml', cfg);
      return { d, alice, mallory, approvers, cfg, file };
    }

    async function refusedAtStart(file: string, why: RegExp): Promise<void> {
      const p = await startDaemon(file, { waitReady: false });
      const exit = await p.exited;
      expect(exit.code).toBe(78);
      expect(`${p.logs().join('\n')}${p.stderr()}`).toMatch(why);
    }

    it('at start: a missing signature, a wrong key, a tampered file and a revoked key exit 78; a valid one runs', async () => {
      // The four refusals side by side, each in its own directory (a start is mostly Node's start-up time).
      const missing = setup();
      const wrongKey = setup();
      signConfig(wrongKey.file, wrongKey.mallory.key);
      const tampered = setup();
      signConfig(tampered.file, tampered.alice.key);
      appendFileSync(tampered.file, '# a comment added after signing\n');
      const revoked = setup();
      signConfig(revoked.file, revoked.alice.key);
      writeApprovers(revoked.approvers, [{ identity: 'mallory@plant', pub: revoked.mallory.pub }]);
      await Promise.all([
        refusedAtStart(missing.file, /plant\.yaml\.sig does not exist/),
        refusedAtStart(wrongKey.file, /is not signed by a key in .*an unknown or removed key/),
        refusedAtStart(tampered.file, /does not verify for alice@plant/),
        refusedAtStart(revoked.file, /is not signed by a key in .*an unknown or removed key/),
      ]);
      // The revoked signer is listed again: the same file and signature now start.
      const { d, alice, approvers, cfg, file } = revoked;
      writeApprovers(approvers, [{ identity: 'alice@plant', pub: alice.pub }]);
      const p = await startDaemon(file);
      const c = (await p.status()).config as unknown as ConfigStatus;
      expect(c.approved_by?.identity).toBe('alice@plant');
      expect(c.approved_by?.key).toMatch(/^SHA256:/);
      const h = await history(file);
      expect(h[0]?.approval).toEqual(c.approved_by);
      await p.stop();
      // The gate is sticky across a restart: an unsigned file without require_approval is still refused, because the
      // configuration it replaces (the newest in the history) has the gate.
      writeConfig(d, 'plant.yaml', {
        ...cfg,
        gateway: { id: 'edge-test-01', site: 'lab', timezone: 'Europe/Paris' },
      });
      await refusedAtStart(file, /configuration not approved: .*does not verify for alice@plant/);
    });

    it('at reload: an unsigned change is refused and the running configuration stays; a signed one applies', async () => {
      const { d, alice, cfg, file } = setup();
      signConfig(file, alice.key);
      const p = await startDaemon(file);
      const before = ((await p.status()).config as unknown as ConfigStatus).fingerprint;
      // Unsigned change, and one that drops the gate: both refused (the running gate guards the reload).
      const gateOff = structuredClone(cfg) as { gateway: Record<string, unknown> } & Record<string, unknown>;
      delete gateOff.gateway.require_approval;
      writeConfig(d, 'plant.yaml', gateOff);
      p.kill('SIGHUP');
      const refused = await waitFor('the refused reload on /status', async () => {
        const s = await p.status();
        return s.config.reload_error ? s : false;
      });
      expect(refused.config.reload_error).toMatch(
        /configuration not approved: .*does not verify for alice@plant/,
      );
      expect(refused.status).toBe('degraded');
      expect(refused.reasons.join(' ')).toMatch(
        /configuration reload failed, previous configuration still running/,
      );
      expect((refused.config as unknown as ConfigStatus).fingerprint).toBe(before);
      // Signed by the approver: applied, recorded with the signer.
      signConfig(file, alice.key);
      p.kill('SIGHUP');
      const applied = await waitFor('the approved reload', async () => {
        const c = (await p.status()).config as unknown as ConfigStatus;
        return c.applied_how === 'reload' && c.reload_error === undefined ? c : false;
      });
      expect(applied.fingerprint).not.toBe(before);
      expect(applied.approved_by?.identity).toBe('alice@plant');
      expect((await history(file)).map((e) => e.how)).toEqual(['reload', 'start']);
      // The approved file switched the gate off: from now on a change needs no signature.
      const after = structuredClone(gateOff) as unknown as { sources: Array<{ interval?: string }> };
      (after.sources[0] as { interval?: string }).interval = '100ms';
      writeConfig(d, 'plant.yaml', after);
      p.kill('SIGHUP');
      await waitFor('the unsigned reload once the gate is off', async () => {
        const c = (await p.status()).config as unknown as ConfigStatus;
        return c.fingerprint !== applied.fingerprint && c.approved_by === undefined;
      });
      await p.stop();
    });
  },
);
