// The OPC UA status code -> quality mapping: the severity in the top two bits, decoded here so the pipeline only
// ever sees good, uncertain or bad (moved from the normalize tests when the mapping moved into the adapter).
import { describe, expect, it } from 'vitest';
import { qualityOfStatusCode } from './values.js';

describe('qualityOfStatusCode', () => {
  it.each([
    [0x00000000, 'good'],
    [0x002f0000, 'good'], // GoodCompletesAsynchronously
    [0x40000000, 'uncertain'],
    [0x40920000, 'uncertain'], // UncertainReferenceNotDeleted
    [0x80000000, 'bad'],
    [0x80310000, 'bad'], // BadNoCommunication
    [0xc0000000, 'bad'], // reserved severity: the safe reading
    [0xffffffff, 'bad'],
    [0x80000000n, 'bad'],
    [0x40000000n, 'uncertain'],
  ] as const)('maps status code %s to %s', (code, quality) => {
    expect(qualityOfStatusCode(code)).toBe(quality);
  });
});
