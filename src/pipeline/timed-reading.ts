// The readings the pipeline makes carry their source time as epoch ms next to the ISO text, so the stages after it
// (data quality, the deriver) never parse the text back. The epoch ms is a private field: JSON.stringify, object
// spread and test equality see exactly the canonical record, so the journal's and the wire's form is unchanged.
import type { Quality, Reading, RecordValue } from '../model/records.js';

/** A canonical reading as the pipeline builds it (a plain Reading to everyone else). */
export class TimedReading implements Reading {
  readonly #tsMs: number;
  id: string;
  kind: 'reading';
  signal: string;
  value: RecordValue;
  ts: string;
  ingest_ts: string;
  quality: Quality;
  source: Reading['source'];
  // Optional fields are not declared here: an absent one must stay absent (not undefined) in the record.
  declare value_type?: Reading['value_type'];
  declare unit?: string;
  declare attrs?: Record<string, string>;

  constructor(
    id: string,
    signal: string,
    value: RecordValue,
    ts: string,
    tsMs: number,
    ingestTs: string,
    quality: Quality,
    source: Reading['source'],
  ) {
    // Assigned in the canonical field order: it is the order of the record's JSON.
    this.id = id;
    this.kind = 'reading';
    this.signal = signal;
    this.value = value;
    this.ts = ts;
    this.ingest_ts = ingestTs;
    this.quality = quality;
    this.source = source;
    this.#tsMs = tsMs;
  }

  /** The source time of `r` in epoch ms: carried by the pipeline's readings, parsed from `ts` for any other. */
  static tsMs(r: Reading): number {
    return #tsMs in r ? (r as TimedReading).#tsMs : Date.parse(r.ts);
  }
}

/** The source time of a reading in epoch ms, without parsing its text when the pipeline made it. */
export const readingTsMs = TimedReading.tsMs;
