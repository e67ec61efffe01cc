// Turns one MQTT message (topic + payload bytes) into RawSamples, or into a reason why it cannot be one.
// Two steps, so another payload format (Sparkplug B) only adds a decoder: a decoder turns the payload into
// entries {key, value, ts, attrs}; the subscription's signal template then names each entry from topic and key.
import { isUtf8 } from 'node:buffer';
import type { RawSample } from '../../src/model/records.js';
import { type MqttSubscriptionConfig, PLACEHOLDER_RE, SPARKPLUG_PLACEHOLDER_RE } from './config.js';

/** Quarantine reasons of whole payloads; `unexpected_topic` is a message no subscription of the source matches. */
export type RejectReason = 'unparseable' | 'too_large' | 'missing_field' | 'bad_type' | 'unexpected_topic';

export type MapResult =
  | { ok: true; samples: RawSample[] }
  | { ok: false; reason: RejectReason; detail: string };

/** Quarantined payloads and the `raw` of samples keep at most this many characters. */
export const RAW_LIMIT = 1024;

/** One value a decoder found in a payload, before naming. */
export interface Entry {
  /** What `{key}` stands for in the template: a JSON object key, the value field, or "value". */
  key: string;
  value: unknown;
  ts?: number | string;
  ts_unit?: 's' | 'ms';
  attrs?: Record<string, string>;
}

type DecodeResult = { ok: true; entries: Entry[] } | { ok: false; reason: RejectReason; detail: string };

export function cutRaw(text: string): string {
  return text.length > RAW_LIMIT ? `${text.slice(0, RAW_LIMIT)}…` : text;
}

/** Raw payload text for quarantine: UTF-8 with replacement characters, cut to RAW_LIMIT. */
export function rawText(payload: Uint8Array): string {
  const head = payload.length > RAW_LIMIT * 4 ? payload.subarray(0, RAW_LIMIT * 4) : payload;
  return cutRaw(LOOSE_UTF8.decode(head));
}

const LOOSE_UTF8 = new TextDecoder('utf-8');

/** Lowercase; anything outside [a-z0-9_] (dots included, so one placeholder stays one segment) becomes "_". */
export function sanitizeSegment(s: string): string {
  const out = s.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return out === '' ? '_' : out;
}

type TemplatePart = string | { topic: number } | { key: true };

function compileTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of template.matchAll(new RegExp(PLACEHOLDER_RE.source, 'g'))) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push(m[2] !== undefined ? { topic: Number(m[2]) } : { key: true });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

/** The template as a pattern for SignalDeclarations: every placeholder becomes `*` (one dotted segment). */
export function templatePattern(template: string): string {
  return template
    .replace(new RegExp(PLACEHOLDER_RE.source, 'g'), '*')
    .replace(new RegExp(SPARKPLUG_PLACEHOLDER_RE.source, 'g'), '*');
}

/** MQTT topic filter match: `+` one level, `#` the rest (and the parent); wildcards never match `$` topics. */
export function topicMatches(filter: readonly string[], topic: readonly string[]): boolean {
  if (topic[0]?.startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false;
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i];
    if (f === '#') return true;
    if (i >= topic.length) return false;
    if (f !== '+' && f !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

const ISO_RE =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): v is number | string | boolean {
  return typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean';
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function getPath(obj: Record<string, unknown>, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, p)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** Topics whose signal names a subscription remembers, and keys per topic (a few hundred bytes per name). */
const NAME_CACHE_TOPICS = 1024;
const NAME_CACHE_KEYS = 64;

type AttrSource = { name: string; topic: number } | { name: string; path: string[] };

/** A subscription compiled once: topic matching, the decoder for its payload format, and naming. */
export class SubscriptionMapper {
  readonly cfg: MqttSubscriptionConfig;
  readonly #filter: string[];
  readonly #template: TemplatePart[];
  readonly #tsPath: string[] | undefined;
  readonly #valuePath: string[] | undefined;
  readonly #attrs: AttrSource[];
  /** Top-level keys that are metadata, not values. */
  readonly #excluded: Set<string>;
  /**
   * Signal names by topic, then by key: a plant's few topics and keys recur in every message, and a name that is
   * the same string every time is cheap to look up downstream (its hash is kept). Bounded: cleared when full.
   */
  readonly #names = new Map<string, Map<string, string | undefined>>();

  constructor(cfg: MqttSubscriptionConfig) {
    this.cfg = cfg;
    this.#filter = cfg.topic.split('/');
    this.#template = compileTemplate(cfg.signal);
    this.#tsPath = cfg.timestamp.field?.split('.');
    this.#valuePath = cfg.value_field?.split('.');
    this.#attrs = Object.entries(cfg.attrs_from ?? {}).map(([name, ref]) => {
      const m = /^topic\[(\d+)\]$/.exec(ref);
      return m ? { name, topic: Number(m[1]) } : { name, path: ref.split('.') };
    });
    this.#excluded = new Set(cfg.ignore_fields);
    if (this.#tsPath?.[0] !== undefined) this.#excluded.add(this.#tsPath[0]);
    for (const a of this.#attrs) if ('path' in a && a.path[0] !== undefined) this.#excluded.add(a.path[0]);
  }

  matches(levels: readonly string[]): boolean {
    return topicMatches(this.#filter, levels);
  }

  /** Maps one message. Never throws: anything unexpected becomes a reject with its reason. */
  map(topic: string, levels: readonly string[], payload: Uint8Array, maxPayload: number): MapResult {
    if (payload.length > maxPayload) {
      return {
        ok: false,
        reason: 'too_large',
        detail: `payload of ${payload.length} bytes exceeds max_payload (${maxPayload} bytes)`,
      };
    }
    if (!isUtf8(payload))
      return { ok: false, reason: 'unparseable', detail: 'payload is not valid UTF-8 text' };
    const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
    const decoded = this.#decode(text, levels);
    if (!decoded.ok) return decoded;
    const raw = cutRaw(text);
    const samples: RawSample[] = [];
    let names = this.#names.get(topic);
    if (names === undefined) {
      if (this.#names.size >= NAME_CACHE_TOPICS) this.#names.clear();
      names = new Map();
      this.#names.set(topic, names);
    }
    for (const e of decoded.entries) {
      let signal = names.get(e.key);
      if (signal === undefined && !names.has(e.key)) {
        signal = this.#name(levels, e.key);
        if (names.size < NAME_CACHE_KEYS) names.set(e.key, signal);
      }
      if (signal === undefined) {
        return {
          ok: false,
          reason: 'missing_field',
          detail: `topic "${topic}" has too few levels for the signal template`,
        };
      }
      const s: RawSample = { signal, value: e.value, address: topic, raw };
      if (e.ts !== undefined) {
        s.ts = e.ts;
        if (e.ts_unit) s.ts_unit = e.ts_unit;
      }
      if (this.cfg.timestamp.local_time) s.ts_local = true;
      if (e.attrs) s.attrs = e.attrs;
      samples.push(s);
    }
    return { ok: true, samples };
  }

  #name(levels: readonly string[], key: string): string | undefined {
    let out = '';
    for (const p of this.#template) {
      if (typeof p === 'string') out += p;
      else if ('key' in p) out += sanitizeSegment(key);
      else {
        const level = levels[p.topic];
        if (level === undefined) return undefined;
        out += sanitizeSegment(level);
      }
    }
    return out;
  }

  #decode(text: string, levels: readonly string[]): DecodeResult {
    switch (this.cfg.payload) {
      case 'number': {
        const t = text.trim();
        if (!NUMBER_RE.test(t))
          return { ok: false, reason: 'unparseable', detail: 'payload is not a number' };
        return this.#single(Number(t), levels);
      }
      case 'text':
        return this.#single(text, levels);
      case 'sparkplug_b':
        // Routed to SparkplugMapper (sparkplug.ts) by the adapter; never mapped here.
        return {
          ok: false,
          reason: 'unparseable',
          detail: 'a sparkplug_b payload needs the Sparkplug decoder',
        };
      case 'json': {
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch (err) {
          return {
            ok: false,
            reason: 'unparseable',
            detail: `payload is not valid JSON: ${(err as Error).message}`,
          };
        }
        return this.#json(v, levels);
      }
    }
  }

  #single(value: unknown, levels: readonly string[]): DecodeResult {
    const attrs = this.#topicAttrs(levels);
    const e: Entry = { key: 'value', value };
    if (attrs) e.attrs = attrs;
    return { ok: true, entries: [e] };
  }

  #topicAttrs(levels: readonly string[]): Record<string, string> | undefined {
    let attrs: Record<string, string> | undefined;
    for (const a of this.#attrs) {
      if ('topic' in a && levels[a.topic] !== undefined) {
        attrs ??= {};
        attrs[a.name] = levels[a.topic] as string;
      }
    }
    return attrs;
  }

  #json(v: unknown, levels: readonly string[]): DecodeResult {
    if (!Array.isArray(v)) return this.#jsonOne(v, levels, '');
    if (v.length === 0) return { ok: false, reason: 'missing_field', detail: 'payload is an empty array' };
    const entries: Entry[] = [];
    for (let i = 0; i < v.length; i++) {
      const el: unknown = v[i];
      if (Array.isArray(el))
        return {
          ok: false,
          reason: 'bad_type',
          detail: `element ${i} is an array; expected an object or a value`,
        };
      const r = this.#jsonOne(el, levels, `element ${i}: `);
      if (!r.ok) return r;
      for (const e of r.entries) entries.push(e);
    }
    return { ok: true, entries };
  }

  #jsonOne(v: unknown, levels: readonly string[], where: string): DecodeResult {
    if (isScalar(v)) {
      if (this.#tsPath) {
        return {
          ok: false,
          reason: 'missing_field',
          detail: `${where}a bare value has no timestamp field "${this.cfg.timestamp.field}"`,
        };
      }
      if (this.#valuePath) {
        return {
          ok: false,
          reason: 'missing_field',
          detail: `${where}a bare value has no value field "${this.cfg.value_field}"`,
        };
      }
      const attrs = this.#topicAttrs(levels);
      const e: Entry = { key: 'value', value: v };
      if (attrs) e.attrs = attrs;
      return { ok: true, entries: [e] };
    }
    if (!isPlainObject(v)) {
      return {
        ok: false,
        reason: 'bad_type',
        detail: `${where}payload is ${describeType(v)}; expected an object, an array or a value`,
      };
    }

    let ts: number | string | undefined;
    let tsUnit: 's' | 'ms' | undefined;
    if (this.#tsPath) {
      const t = getPath(v, this.#tsPath);
      if (t === undefined)
        return {
          ok: false,
          reason: 'missing_field',
          detail: `${where}timestamp field "${this.cfg.timestamp.field}" is missing`,
        };
      const parsed = this.#timestamp(t);
      if (!parsed.ok)
        return {
          ok: false,
          reason: 'bad_type',
          detail: `${where}timestamp field "${this.cfg.timestamp.field}" ${parsed.why}`,
        };
      ts = parsed.ts;
      tsUnit = parsed.unit;
    }

    let attrs = this.#topicAttrs(levels);
    for (const a of this.#attrs) {
      if (!('path' in a)) continue;
      const av = getPath(v, a.path);
      if (av === undefined || av === null) continue; // a required attribute is enforced by the pipeline (required_attrs)
      if (!isScalar(av)) {
        return {
          ok: false,
          reason: 'bad_type',
          detail: `${where}attribute field "${a.path.join('.')}" is ${describeType(av)}; expected a value`,
        };
      }
      attrs ??= {};
      attrs[a.name] = String(av);
    }

    const entries: Entry[] = [];
    const push = (key: string, value: unknown) => {
      const e: Entry = { key, value };
      if (ts !== undefined) e.ts = ts;
      if (tsUnit !== undefined) e.ts_unit = tsUnit;
      if (attrs) e.attrs = attrs;
      entries.push(e);
    };
    if (this.#valuePath) {
      const val = getPath(v, this.#valuePath);
      if (val === undefined)
        return {
          ok: false,
          reason: 'missing_field',
          detail: `${where}value field "${this.cfg.value_field}" is missing`,
        };
      if (!isScalar(val)) {
        return {
          ok: false,
          reason: 'bad_type',
          detail: `${where}value field "${this.cfg.value_field}" is ${describeType(val)}; expected a number, boolean or string`,
        };
      }
      push(this.#valuePath[this.#valuePath.length - 1] as string, val);
      return { ok: true, entries };
    }
    for (const key of Object.keys(v)) {
      if (this.#excluded.has(key)) continue;
      const val = v[key];
      if (!isScalar(val)) {
        return {
          ok: false,
          reason: 'bad_type',
          detail: `${where}field "${key}" is ${describeType(val)}; expected a number, boolean or string`,
        };
      }
      push(key, val);
    }
    if (entries.length === 0)
      return { ok: false, reason: 'missing_field', detail: `${where}object has no value fields` };
    return { ok: true, entries };
  }

  #timestamp(t: unknown): { ok: true; ts: number | string; unit?: 's' | 'ms' } | { ok: false; why: string } {
    let n: number | undefined;
    if (typeof t === 'number') n = t;
    else if (typeof t === 'string') {
      const text = t.trim();
      // An ISO text is only checked for its shape here; normalize parses it (once per distinct text).
      if (NUMBER_RE.test(text)) n = Number(text);
      else if (ISO_RE.test(text)) return { ok: true, ts: text };
      else return { ok: false, why: `is "${t.slice(0, 40)}", not an ISO 8601 time or an epoch number` };
    } else return { ok: false, why: `is ${describeType(t)}; expected an epoch number or an ISO 8601 string` };
    if (!Number.isFinite(n) || n <= 0) return { ok: false, why: `is ${n}, not a positive epoch time` };
    const unitCfg = this.cfg.timestamp.unit;
    const unit = unitCfg === 'auto' ? (n < 1e11 ? 's' : 'ms') : unitCfg;
    return { ok: true, ts: n, unit };
  }
}
