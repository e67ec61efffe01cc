// Unit tests of where a dead letter's seqs come from: the letter's own fields, or, for letters stored before it
// had them, its batch id. Replaying against a receiver is covered in forwarder.test.ts.
import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../journal/types.js';
import { deadLetterSeqs } from './dead-letter-replay.js';

const letter = (extra: Partial<DeadLetter>): DeadLetter => ({
  batch_id: 'lyon-edge-01:central:11-20',
  sink: 'central',
  at: 0,
  error: 'HTTP 400',
  records: [],
  ...extra,
});

describe('deadLetterSeqs', () => {
  it('takes the seqs the letter stores, whatever its batch id says', () => {
    expect(deadLetterSeqs(letter({ first_seq: 101, last_seq: 140 }))).toEqual({
      first_seq: 101,
      last_seq: 140,
    });
  });

  it('reads them from the batch id of a letter stored without them', () => {
    expect(deadLetterSeqs(letter({}))).toEqual({ first_seq: 11, last_seq: 20 });
    expect(deadLetterSeqs(letter({ batch_id: 'odd-id', first_seq: 5 }))).toEqual({
      first_seq: 0,
      last_seq: 0,
    });
  });
});
