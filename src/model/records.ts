// Canonical records: the one format every protocol is turned into and every sink receives.
// This module knows nothing of configuration; it only defines shapes and content-derived ids.

import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';

export type Quality = 'good' | 'uncertain' | 'bad';
export type RecordValue = number | boolean | string;

/** What an adapter hands to the pipeline: as close to the wire as possible, before any interpretation. */
export interface RawSample {
  /** Canonical signal name the adapter resolved from its address (e.g. `lyon.press1.hydraulic_pressure`). */
  signal: string;
  /**
   * The value as received (number, boolean, string, bigint, or anything a payload parser produced). 64-bit
   * integers are handed as a bigint; normalize keeps them exact (see Reading.value_type).
   */
  value: unknown;
  /**
   * The type the source itself declares for this value (OPC UA: the variable's DataType). Used when the signal
   * has no `value_type` in the configuration; an explicit `value_type` always wins.
   */
  value_type?: 'number' | 'integer' | 'boolean' | 'string';
  /**
   * Source time. A number is epoch milliseconds unless `ts_unit` says seconds; a string is ISO 8601
   * (with offset, `Z`, or none: then it is local time in the site zone when `ts_local` is true, UTC otherwise);
   * a Date is taken as is; absent means the source sent none and ingest time is used.
   */
  ts?: number | string | Date;
  ts_unit?: 's' | 'ms';
  ts_local?: boolean;
  /** The sample's quality, canonical whatever the protocol (adapters decode their own codes); absent means good. */
  status?: Quality;
  /** Where it came from in protocol terms: node id, register, topic. */
  address: string;
  /** Context that travels with the value (work order, lot, topic segments). */
  attrs?: Record<string, string>;
  /** For payload-based sources: the raw payload text (bounded by the adapter), kept in quarantine. */
  raw?: string;
}

export interface SourceRef {
  id: string;
  type: string;
  address: string;
}

export interface Reading {
  id: string;
  kind: 'reading';
  signal: string;
  /** A number when the value is a number that JSON carries exactly; a 64-bit integer beyond ±(2^53-1) is text. */
  value: RecordValue;
  /** Present when value is a string holding an exact integer too large for a JSON number. */
  value_type?: 'integer';
  unit?: string;
  /** Source time, UTC ISO 8601 with milliseconds. */
  ts: string;
  /** When the gateway received it, UTC ISO 8601 with milliseconds. */
  ingest_ts: string;
  quality: Quality;
  source: SourceRef;
  attrs?: Record<string, string>;
}

export interface EventRecord {
  id: string;
  kind: 'event';
  /** e.g. `production.count`, `machine.downtime`, `quality.exception`. */
  type: string;
  /** UTC ISO 8601 with milliseconds: the event's own time (window start, downtime start, ...). */
  ts: string;
  /** What the event is about, e.g. a machine or a counter signal. */
  subject: string;
  data: Record<string, unknown>;
}

export type CanonicalRecord = Reading | EventRecord;
export type RecordKind = CanonicalRecord['kind'];

const hasHash = typeof (crypto as { hash?: unknown }).hash === 'function';

/** First 128 bits of SHA-256, hex. `crypto.hash` is ~3x faster than createHash for short inputs. */
export function digest128(input: string): string {
  const hex = hasHash
    ? (crypto as unknown as { hash(alg: string, data: string, enc: 'hex'): string }).hash(
        'sha256',
        input,
        'hex',
      )
    : createHash('sha256').update(input).digest('hex');
  return hex.slice(0, 32);
}

/** A reading's id depends only on content, so a resent or replayed reading keeps it. */
export function readingId(gatewayId: string, signal: string, ts: string, value: RecordValue): string {
  return digest128(`r\u0000${gatewayId}\u0000${signal}\u0000${ts}\u0000${typeof value}:${String(value)}`);
}

/** An event's id depends on its identity (type, subject, window or start), so a recomputation yields the same id. */
export function eventId(gatewayId: string, type: string, subject: string, identity: string): string {
  return digest128(`e\u0000${gatewayId}\u0000${type}\u0000${subject}\u0000${identity}`);
}

/** UTC ISO 8601 with milliseconds. */
export function isoUtc(ms: number): string {
  return new Date(ms).toISOString();
}
