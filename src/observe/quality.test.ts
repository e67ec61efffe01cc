// SourceQuality as the ingest path drives it (it is the source's IngestObserver): the pipeline ledger with
// payloads the adapter refused on their own path (onRejected), and timeliness from the readings' epoch ms.
import { describe, expect, it } from 'vitest';
import type { IngestObserver } from '../ingest/ingest.js';
import type { RawSample } from '../model/records.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { SpecRegistry } from '../pipeline/specs.js';
import { SourceQuality } from './quality.js';

const SOURCE = { id: 'line2', type: 'mqtt' };
const T0 = Date.parse('2026-11-27T10:00:00.000Z');

function pipeline(): Pipeline {
  return new Pipeline({
    gatewayId: 'lyon-edge-01',
    timezone: 'UTC',
    maxFutureSkewMs: 60_000,
    specs: new SpecRegistry([
      { source: SOURCE, declarations: { exact: [{ name: 'lyon.line2.speed' }], patterns: [] } },
    ]),
  });
}

describe('SourceQuality', () => {
  it('counts a refused payload as one received and quarantined sample, by reason, with its arrival', () => {
    const q: IngestObserver = new SourceQuality(SOURCE.id, SOURCE.type, ['lyon.line2.speed'], 1000, T0);
    const quality = q as SourceQuality;
    q.onRejected?.('unparseable', T0 + 500);
    q.onRejected?.('unparseable', T0 + 1500);
    q.onRejected?.('too_large', T0 + 2500);
    expect(quality.received).toBe(3);
    expect(quality.quarantined).toBe(3);
    expect(quality.ingested).toBe(0);
    expect(quality.quarantinedByReason).toEqual({ unparseable: 2, too_large: 1 });
    expect(quality.lastSampleAt).toBe(T0 + 2500);
    expect(quality.rate(T0 + 2500)).toBeGreaterThan(0);
    // Conformity judges what was refused as not conforming; nothing was ingested to judge duplication on.
    expect(quality.quality(T0 + 2500)).toMatchObject({ conformity: 0 });
  });

  it('keeps the ledger received = ingested + quarantined across emits and refused payloads', () => {
    const quality = new SourceQuality(SOURCE.id, SOURCE.type, ['lyon.line2.speed'], 1000, T0);
    const p = pipeline();
    const samples: RawSample[] = [
      { signal: 'lyon.line2.speed', value: 1, ts: T0 - 250, address: 'a' },
      { signal: 'lyon.line2.speed', value: 'fast', ts: T0 - 250, address: 'a' },
      { signal: 'lyon.line2.speed', value: 2, ts: T0 - 150, address: 'a' },
    ];
    const { records, rejects } = p.process(SOURCE, samples, T0);
    quality.onProcessed(samples, records, rejects, T0);
    quality.onRejected('unexpected_topic', T0 + 10);
    expect(quality.received).toBe(quality.ingested + quality.quarantined);
    expect([quality.received, quality.ingested, quality.quarantined]).toEqual([4, 2, 2]);
    expect(quality.quarantinedByReason).toEqual({ unparseable: 1, unexpected_topic: 1 });
    // Timeliness from the readings' own epoch ms: 250 and 150 ms old on arrival.
    const { timeliness_p50_ms, timeliness_p95_ms } = quality.quality(T0);
    expect([timeliness_p50_ms, timeliness_p95_ms]).toEqual([250, 250]);
  });
});
