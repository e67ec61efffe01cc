// The daemon's exception wiring: owners for each applied configuration, the board that counts quarantined
// samples and dead letters by owner and reason (/status, /metrics), and, with `gateway.exception_events`, one
// data.exception event per owner per UTC-aligned window appended to the journal for the sinks that select it.
// A window cut by a stop or a crash is not sent again: these events tell people, the quarantine and the dead
// letters themselves are the record.
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { PlantConfig } from '../config/schema.js';
import type { QuarantineHook } from '../ingest/ingest.js';
import type { DeadLetter, Journal } from '../journal/types.js';
import { type EventRecord, eventId, isoUtc } from '../model/records.js';
import { ExceptionBoard, type OwnerSummary } from '../observe/exceptions.js';
import { type Owners, ownersOf } from './owners.js';

export const DATA_EXCEPTION = 'data.exception';

export class DaemonExceptions {
  readonly board: ExceptionBoard;
  #owners: Owners | undefined;
  #timer: NodeJS.Timeout | undefined;
  #emitted = 0;

  constructor(registry: Registry) {
    const counter = new Counter({
      name: 'plantgate_exceptions_total',
      help: 'Quarantined samples and dead-lettered records, by the team that owns them and the reason.',
      labelNames: ['owner', 'reason'],
      registers: [registry],
    });
    this.board = new ExceptionBoard((owner, reason, n) => counter.inc({ owner, reason }, n));
  }

  /** A configuration was applied (start or reload). */
  configure(cfg: PlantConfig): void {
    this.#owners = ownersOf(cfg);
  }

  /** The ingest path's hook: owners for quarantine entries, and the board told of each. */
  readonly hook: QuarantineHook = {
    owner: (sourceId, signal) => this.#owners?.sample(sourceId, signal) ?? 'unassigned',
    noted: (entries) => {
      for (const e of entries) {
        this.board.note({
          owner: e.owner ?? 'unassigned',
          reason: e.reason,
          at: e.at,
          signal: e.sample?.signal,
          source: e.source.id,
          example: e.detail,
        });
      }
    },
  };

  /** The owners the running configuration names, the default included. */
  owners(): readonly string[] {
    return this.#owners?.names ?? ['unassigned'];
  }

  sinkOwner = (sinkId: string): string => this.#owners?.sink(sinkId) ?? 'unassigned';

  onDeadLetter = (l: DeadLetter): void => {
    this.board.note({
      owner: l.owner ?? 'unassigned',
      reason: `dead_letter${l.status !== undefined ? `_${l.status}` : ''}`,
      at: l.at,
      sink: l.sink,
      example: `batch ${l.batch_id} (${l.records.length} records): ${l.error}`,
      count: l.records.length,
    });
  };

  /** A sample an event definition could not use: its definition's owner (else the gateway's) hears of it. */
  onEventIgnored = (
    def: { id?: string | undefined; owner?: string | undefined },
    reason: string,
    r: { signal: string; ts: string; value: unknown },
  ): void => {
    this.board.note({
      owner: def.owner ?? this.#owners?.fallback ?? 'unassigned',
      reason: `event_${reason}`,
      at: Date.now(),
      signal: r.signal,
      example: `event ${def.id ?? ''} could not use ${r.signal} = ${String(r.value)} at ${r.ts} (${reason.replace('_', ' ')})`,
    });
  };

  /** /status: exceptions by owner since the start, with the top recurring reasons. */
  summary(): { by_owner: Record<string, OwnerSummary>; events_sent: number } {
    return { by_owner: this.board.summary(), events_sent: this.#emitted };
  }

  /** Starts the data.exception windows when configured; appends one event per owner with exceptions per window. */
  start(opts: { journal: Journal; gateway: PlantConfig['gateway']; log: Logger }): void {
    const ev = opts.gateway.exception_events;
    if (!ev) return;
    const windowMs = ev.window;
    // What was noted before the first window started (the start itself) belongs to the first window.
    const schedule = () => {
      const now = Date.now();
      const end = (Math.floor(now / windowMs) + 1) * windowMs;
      this.#timer = setTimeout(
        () => {
          void this.#close(end - windowMs, end, opts).finally(() => {
            if (this.#timer !== undefined) schedule();
          });
        },
        end - now + 5,
      );
      this.#timer.unref();
    };
    schedule();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #close(
    start: number,
    end: number,
    opts: { journal: Journal; gateway: PlantConfig['gateway']; log: Logger },
  ): Promise<void> {
    const windows = this.board.takeWindow();
    if (windows.length === 0) return;
    const windowStart = isoUtc(start);
    const records: EventRecord[] = windows.map((w) => ({
      id: eventId(opts.gateway.id, DATA_EXCEPTION, w.owner, windowStart),
      kind: 'event',
      type: DATA_EXCEPTION,
      ts: windowStart,
      subject: w.owner,
      data: {
        version: 1,
        owner: w.owner,
        window_start: windowStart,
        window_end: isoUtc(end),
        total: w.total,
        by_reason: w.by_reason,
        by_signal: w.by_signal,
        examples: w.examples,
      },
    }));
    try {
      await opts.journal.append(records);
      this.#emitted += records.length;
    } catch (err) {
      opts.log.warn(
        { err, owners: windows.map((w) => w.owner) },
        'The data.exception events of a window could not be journaled; the quarantine and dead letters still hold every case.',
      );
    }
  }
}
