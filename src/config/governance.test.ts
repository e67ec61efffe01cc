// The configuration fingerprint, the history of applied configurations and the approval gate, against real files
// and the real ssh-keygen (keys made in the test's temp dir).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approversFor, verifyApproval } from './approval.js';
import { checkConfigCommand } from './commands.js';
import { configFingerprint, effectiveConfig } from './fingerprint.js';
import { appendHistory, findEntry, HISTORY_DIR, type HistoryEntry, readHistory } from './history.js';
import { loadConfig } from './load.js';
import {
  captureOutput,
  hasSshKeygen,
  makeSshKey,
  Scratch,
  signConfig,
  writeApprovers,
} from './test-support.js';

const scratch = new Scratch();
beforeAll(() => scratch.open());
afterAll(() => scratch.close());

const CONFIG = `gateway: { id: fp-test, site: lab, timezone: Europe/Paris }
storage: { dir: state }
sources:
  - id: gen-1
    type: generator
    interval: 1s
    signals:
      - { name: lab.line1.temperature, shape: sine, min: 20, max: 80, unit: Cel }
sinks:
  - id: central
    type: http
    url: http://127.0.0.1:9/batches
    auth: { bearer_env: FP_TOKEN }
`;

async function fingerprint(name: string, text: string, env: NodeJS.ProcessEnv = { FP_TOKEN: 'a' }) {
  const res = await loadConfig(await scratch.write(name, text), { env });
  if (!res.ok) throw new Error(JSON.stringify(res.issues));
  return res;
}

describe('configuration fingerprint', () => {
  it('is the same for comments, key order, quoting and a default written out; different for a real change', async () => {
    const base = await fingerprint('a.yaml', CONFIG);
    expect(base.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    const cosmetic = CONFIG.replace('# none', '')
      .replace(
        'gateway: { id: fp-test, site: lab, timezone: Europe/Paris }',
        '# the lab\ngateway: { timezone: "Europe/Paris", site: lab, id: fp-test }',
      )
      .replace('interval: 1s', 'interval: 1000ms # the same')
      .replace('storage: { dir: state }', 'storage: { dir: state, when_full: drop_oldest }');
    expect(cosmetic).not.toBe(CONFIG);
    expect((await fingerprint('b.yaml', cosmetic)).fingerprint).toBe(base.fingerprint);
    const changed = await fingerprint('c.yaml', CONFIG.replace('max: 80', 'max: 90'));
    expect(changed.fingerprint).not.toBe(base.fingerprint);
  });

  it('holds secrets as their references: another value keeps it, another reference changes it', async () => {
    const a = await fingerprint('s.yaml', CONFIG, { FP_TOKEN: 'first-secret' });
    const b = await fingerprint('s.yaml', CONFIG, { FP_TOKEN: 'second-secret' });
    expect(b.fingerprint).toBe(a.fingerprint);
    const text = JSON.stringify(effectiveConfig(a.config));
    expect(text).toContain('"secret":"env:FP_TOKEN"');
    expect(text).not.toContain('first-secret');
    const other = await fingerprint('s2.yaml', CONFIG.replace('FP_TOKEN', 'FP_OTHER'), {
      FP_OTHER: 'first-secret',
    });
    expect(other.fingerprint).not.toBe(a.fingerprint);
    // --no-secrets gives the same fingerprint as the service with its secrets.
    const unchecked = await loadConfig(join(scratch.dir, 's.yaml'), { skipSecrets: true });
    expect(unchecked.ok && unchecked.fingerprint).toBe(a.fingerprint);
    expect(configFingerprint(a.config)).toBe(a.fingerprint);
  });
});

function entry(hash: string, at: number, how: 'start' | 'reload' = 'start'): HistoryEntry {
  return {
    hash,
    applied_at: new Date(at).toISOString(),
    how,
    file: '/etc/plantgate/plant.yaml',
    owner: { uid: 0, gid: 0, user: 'root' },
    mtime: new Date(at - 1000).toISOString(),
    config: { gateway: { id: hash.slice(7, 11) } },
  };
}

describe('configuration history', () => {
  it('keeps entries in order, prunes by count, leaves no temporary file, and finds by hash prefix', async () => {
    const dir = join(scratch.dir, 'hist');
    const t0 = Date.parse('2026-12-01T08:00:00Z');
    await appendHistory(dir, entry(`sha256:aaaa${'1'.repeat(60)}`, t0), 3);
    await appendHistory(dir, entry(`sha256:aaab${'2'.repeat(60)}`, t0 + 1000, 'reload'), 3);
    await appendHistory(dir, entry(`sha256:bbbb${'3'.repeat(60)}`, t0 + 2000, 'reload'), 3);
    // Same millisecond twice: both kept.
    await appendHistory(dir, entry(`sha256:cccc${'4'.repeat(60)}`, t0 + 2000, 'reload'), 3);
    const { entries, skipped } = await readHistory(dir);
    expect(skipped).toEqual([]);
    expect(entries.map((e) => e.hash.slice(7, 11))).toEqual(['aaab', 'bbbb', 'cccc']);
    expect(readdirSync(join(dir, HISTORY_DIR)).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    const found = findEntry(entries, 'sha256:bbbb');
    expect(found.ok && found.entry.how).toBe('reload');
    expect(findEntry(entries, 'aaa')).toEqual({
      ok: false,
      message: '"aaa" is not a hash prefix (at least 4 hex digits)',
    });
    expect(findEntry(entries, 'dddd')).toEqual({
      ok: false,
      message: 'no configuration in the history has a hash starting with dddd',
    });
    const twoNames = [...entries, entry(`sha256:bbbb${'5'.repeat(60)}`, t0 + 3000)];
    expect(findEntry(twoNames, 'bbbb')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/2 configurations/),
    });
  });

  it('skips an unreadable entry and names it', async () => {
    const dir = join(scratch.dir, 'hist-bad');
    await appendHistory(dir, entry(`sha256:abcd${'1'.repeat(60)}`, Date.now()), 5);
    writeFileSync(join(dir, HISTORY_DIR, `000000000000001-0-${'e'.repeat(12)}.json`), '{ cut');
    const { entries, skipped } = await readHistory(dir);
    expect(entries).toHaveLength(1);
    expect(skipped[0]).toMatch(/^000000000000001-0-e{12}\.json: /);
  });
});

describe.skipIf(!hasSshKeygen())(
  'approval gate (ssh-keygen; skipped when openssh-client is not installed)',
  () => {
    let alice: { key: string; pub: string };
    let mallory: { key: string; pub: string };
    let approvers: string;
    let file: string;
    beforeAll(async () => {
      alice = makeSshKey(scratch.dir, 'alice');
      mallory = makeSshKey(scratch.dir, 'mallory');
      approvers = join(scratch.dir, 'approvers');
      writeApprovers(approvers, [{ identity: 'alice@plant', pub: alice.pub }]);
      file = await scratch.write('signed.yaml', CONFIG);
    });
    const bytes = () => readFileSync(file);

    it('accepts a valid signature and names the signer and the key', async () => {
      signConfig(file, alice.key);
      const res = await verifyApproval(file, bytes(), [approvers]);
      expect(res).toEqual({
        ok: true,
        approval: { identity: 'alice@plant', key: expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/) },
      });
    });

    it('refuses a missing signature, saying how to sign', async () => {
      const other = await scratch.write('unsigned.yaml', CONFIG);
      const res = await verifyApproval(other, readFileSync(other), [approvers]);
      expect(res).toEqual({
        ok: false,
        message: expect.stringContaining('unsigned.yaml.sig does not exist'),
      });
      expect(!res.ok && res.message).toContain('ssh-keygen -Y sign -n plantgate-config');
    });

    it('refuses a key that is not an approver', async () => {
      signConfig(file, mallory.key);
      const res = await verifyApproval(file, bytes(), [approvers]);
      expect(res).toEqual({ ok: false, message: expect.stringContaining('is not signed by a key in') });
    });

    it('refuses a file changed after signing (the bytes given are what is verified)', async () => {
      signConfig(file, alice.key);
      const tampered = Buffer.from(CONFIG.replace('max: 80', 'max: 800'));
      const res = await verifyApproval(file, tampered, [approvers]);
      expect(res).toEqual({ ok: false, message: expect.stringContaining('does not verify for alice@plant') });
    });

    it('refuses a revoked key (removed from the approvers file)', async () => {
      signConfig(file, alice.key);
      expect((await verifyApproval(file, bytes(), [approvers])).ok).toBe(true);
      const revoked = join(scratch.dir, 'approvers-revoked');
      writeApprovers(revoked, [{ identity: 'bob@plant', pub: mallory.pub }]);
      const res = await verifyApproval(file, bytes(), [revoked]);
      expect(res).toEqual({ ok: false, message: expect.stringContaining('an unknown or removed key') });
    });

    it('check-config says who signed, or warns that the file is not approved yet (exit 0 either way)', async () => {
      const gated = await scratch.write(
        'gated.yaml',
        CONFIG.replace('site: lab,', `site: lab, require_approval: { approvers_file: ${approvers} },`),
      );
      const unsigned = await captureOutput(() => checkConfigCommand(gated, { noSecrets: true }));
      expect(unsigned.stderr).toContain(
        'warning: not approved yet: approval required (gateway.require_approval)',
      );
      signConfig(gated, alice.key);
      const signed = await captureOutput(() => checkConfigCommand(gated, { noSecrets: true }));
      expect(signed.value).toBe(0);
      expect(signed.stdout).toMatch(/^approval: signed by alice@plant \(SHA256:\S+\)$/m);
      const missing = await loadConfig(
        await scratch.write(
          'no-approvers.yaml',
          CONFIG.replace('site: lab,', 'site: lab, require_approval: { approvers_file: nowhere },'),
        ),
        { env: { FP_TOKEN: 'a' } },
      );
      expect(!missing.ok && missing.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
        `gateway.require_approval.approvers_file: approvers file "${join(scratch.dir, 'nowhere')}" does not exist; create it or fix the path`,
      ]);
    });

    it('is sticky: the approvers of the configuration being replaced must approve too', () => {
      const on = { gateway: { require_approval: { approvers_file: '/etc/plantgate/approvers' } } };
      const off = { gateway: {} };
      expect(approversFor(off, on)).toEqual(['/etc/plantgate/approvers']);
      expect(approversFor(on, undefined)).toEqual(['/etc/plantgate/approvers']);
      expect(approversFor(off, off)).toEqual([]);
    });
  },
);
