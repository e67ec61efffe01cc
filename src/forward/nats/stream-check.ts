// The optional check of `stream:` when the sink connects: the stream exists and captures the subject, and its
// duplicate_window covers a resend after retry.max (a resend after the window would be stored twice). Warnings
// only: central owns its streams. With `create: true` (demos, labs) a missing stream is created.
import { type NatsConnection, nanos, RetentionPolicy, StorageType } from 'nats';
import type { Logger } from 'pino';
import type { NatsSinkConfig } from './config.js';

/** Default duplicate window of a created stream, and the least one the check accepts next to retry.max. */
const CREATED_WINDOW_MS = 120_000;

export async function checkStream(
  nc: NatsConnection,
  cfg: NatsSinkConfig,
  subject: string,
  log: Logger,
): Promise<void> {
  const want = cfg.stream;
  if (!want) return;
  const jsm = await nc.jetstreamManager();
  const capturing = await jsm.streams.find(subject).catch(() => undefined);
  if (capturing === undefined) {
    if (want.create) {
      const windowMs = Math.max(CREATED_WINDOW_MS, 2 * cfg.retry.max);
      await jsm.streams.add({
        name: want.name,
        subjects: [subject],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        num_replicas: 1,
        duplicate_window: nanos(windowMs),
      });
      log.warn(
        { stream: want.name, subject, duplicate_window_ms: windowMs },
        'Created the stream (stream.create is on): one replica, file storage, no limits. Central should own its streams: create them there and turn stream.create off.',
      );
      return;
    }
    log.error(
      { stream: want.name, subject },
      `No JetStream stream captures subject "${subject}" (stream.name is ${want.name}); create it on the central side, batches wait in the journal until then.`,
    );
    return;
  }
  if (capturing !== want.name) {
    log.warn(
      { stream: want.name, capturing, subject },
      `Subject "${subject}" lands in stream ${capturing}, not in ${want.name} as stream.name says; fix stream.name or the central streams.`,
    );
  }
  const info = await jsm.streams.info(capturing);
  const windowMs = Math.round((info.config.duplicate_window ?? 0) / 1e6);
  // A batch is resent at most retry.max after its previous attempt, plus the PubAck wait of that attempt.
  const needed = cfg.retry.max + cfg.timeout;
  if (windowMs < needed) {
    log.warn(
      {
        stream: capturing,
        duplicate_window_ms: windowMs,
        retry_max_ms: cfg.retry.max,
        timeout_ms: cfg.timeout,
      },
      `The stream's duplicate_window (${windowMs} ms) is shorter than retry.max plus timeout (${needed} ms): a batch resent after a lost PubAck may be stored twice. Raise duplicate_window (e.g. 2m) or lower retry.max.`,
    );
  } else {
    log.info(
      { stream: capturing, duplicate_window_ms: windowMs, replicas: info.config.num_replicas },
      'The stream captures the subject and its duplicate window covers the retries.',
    );
  }
}
