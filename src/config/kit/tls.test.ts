// readPem, the one reader of certificate and key files: reads the file whole, caps its size, and names the file
// and its role in every error without echoing a byte of the content.
import { chmod, mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../kit/errors.js';
import { Scratch } from '../test-support.js';
import { MAX_PEM_FILE_BYTES, readPem } from './tls.js';

const KEY = '-----BEGIN PRIVATE KEY-----\nTHIS-KEY-MUST-NEVER-REACH-A-MESSAGE\n-----END PRIVATE KEY-----\n';

const scratch = new Scratch();
beforeAll(() => scratch.open());
afterAll(() => scratch.close());

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected readPem to throw');
}

describe('readPem', () => {
  it('reads the file whole, byte for byte', async () => {
    const file = await scratch.write('key.pem', KEY);
    expect(readPem(file, 'client key').toString('utf8')).toBe(KEY);
  });

  it('reads a file exactly at the size limit', async () => {
    const file = await scratch.write('at-limit.pem', 'A'.repeat(MAX_PEM_FILE_BYTES));
    expect(readPem(file)).toHaveLength(MAX_PEM_FILE_BYTES);
  });

  it('names the file and its role, never the content', async () => {
    const big = await scratch.write('big.pem', KEY.repeat(Math.ceil(MAX_PEM_FILE_BYTES / KEY.length) + 1));
    const empty = await scratch.write('empty.pem', '');
    await mkdir(`${scratch.dir}/dir.pem`);
    const messages = [
      failure(() => readPem(big, 'client key')).message,
      failure(() => readPem(empty, 'CA')).message,
      failure(() => readPem(`${scratch.dir}/missing.pem`, 'CA')).message,
      failure(() => readPem(`${scratch.dir}/dir.pem`, 'client certificate')).message,
    ];
    const bigSize = KEY.length * (Math.ceil(MAX_PEM_FILE_BYTES / KEY.length) + 1);
    expect(messages).toEqual([
      `the client key file "${big}" is ${bigSize} bytes, over the ${MAX_PEM_FILE_BYTES}-byte limit; is it the right file?`,
      `the CA file "${empty}" is empty`,
      `cannot read the CA file "${scratch.dir}/missing.pem": it does not exist`,
      `the client certificate file "${scratch.dir}/dir.pem" is a directory; give the path of a file`,
    ]);
    for (const m of messages) expect(m).not.toContain('THIS-KEY');
  });

  it.skipIf(process.getuid?.() === 0)('says when the service user may not read it', async () => {
    const file = await scratch.write('locked.pem', KEY);
    await chmod(file, 0o000);
    expect(failure(() => readPem(file, 'client key')).message).toBe(
      `cannot read the client key file "${file}": permission denied (make it readable by the service user)`,
    );
  });
});
