// The one place that decides what a failed JetStream publish means for a batch: retry later (no PubAck in time,
// disconnected, no stream for the subject, stream limits, a leader election), or rejected for good (the message is
// larger than the server or the stream accepts), which dead-letters the batch.
import type { WriteOutcome } from '../kit/types.js';

type Failure = Extract<WriteOutcome, { ok: false }>;

/** JetStream API error codes (`err_code`) that no resend of the same message can get past. */
const PERMANENT_JS_CODES = new Set([
  10054, // message size exceeds maximum allowed (the stream's max_msg_size)
]);

function field(err: unknown, key: string): unknown {
  return err !== null && typeof err === 'object' ? (err as Record<string, unknown>)[key] : undefined;
}

function messageOf(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 3 && e !== undefined && e !== null; depth++) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !parts.includes(msg)) parts.push(msg);
    e = field(e, 'cause');
  }
  return parts.join(': ') || 'unknown error';
}

/** What to create when no stream captures the subject: the alarm text names it. */
export function noStreamAdvice(subject: string, stream: string | undefined): string {
  const name = stream ?? 'PLANT';
  const pattern = `${subject.split('.').slice(0, -1).join('.') || subject}.>`;
  return `no JetStream stream captures subject "${subject}": create one (e.g. nats stream add ${name} --subjects '${pattern}' --storage file --replicas 3 --dupe-window 2m) or fix the sink's subject; batches wait in the journal, none is dead-lettered`;
}

export interface PublishContext {
  subject: string;
  stream?: string | undefined;
  timeoutMs: number;
  records: number;
}

/**
 * Classifies an error thrown by a JetStream publish. Only a message that cannot fit is permanent; everything
 * else (including permission errors, which an operator fixes on the server) is retried with backoff.
 */
export function classifyPublishError(err: unknown, ctx: PublishContext): Failure {
  const code = String(field(err, 'code') ?? '');
  const api = field(err, 'api_error') as
    | { code?: number; err_code?: number; description?: string }
    | undefined;
  if (api?.err_code !== undefined && PERMANENT_JS_CODES.has(api.err_code)) {
    return {
      ok: false,
      retryable: false,
      error: `the stream rejected the message for good: ${api.description ?? messageOf(err)} (err_code ${api.err_code}); ${ctx.records} record(s)`,
    };
  }
  if (api !== undefined) {
    return {
      ok: false,
      retryable: true,
      status: api.code,
      error: `the stream refused the message: ${api.description ?? messageOf(err)} (err_code ${api.err_code ?? '?'})`,
    };
  }
  switch (code) {
    case '503':
      return { ok: false, retryable: true, status: 503, error: noStreamAdvice(ctx.subject, ctx.stream) };
    case 'TIMEOUT':
      return {
        ok: false,
        retryable: true,
        error: `no PubAck within ${ctx.timeoutMs} ms (a stream leader election, or an overloaded server); resent with the same Nats-Msg-Id`,
      };
    case 'MAX_PAYLOAD_EXCEEDED':
      return {
        ok: false,
        retryable: false,
        error: `the message is larger than the server's max_payload: ${messageOf(err)}`,
      };
    case 'PERMISSIONS_VIOLATION':
      return {
        ok: false,
        retryable: true,
        error: `the NATS user may not publish to "${ctx.subject}" (${messageOf(err)}); grant it on the server`,
      };
    default:
      return {
        ok: false,
        retryable: true,
        error: `the publish failed (${code || 'error'}): ${messageOf(err)}`,
      };
  }
}
