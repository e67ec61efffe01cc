// What a failed JetStream publish means for a batch: only a message that can never fit is a dead letter; a missing
// stream, a timeout, a permission or a stream limit is retried, and the missing stream's error says what to create.
import { NatsError } from 'nats';
import { describe, expect, it } from 'vitest';
import { classifyPublishError } from './classify.js';

const ctx = { subject: 'plant.lyon-edge-01.reading', stream: 'PLANT', timeoutMs: 10_000, records: 1000 };

function apiError(code: number, errCode: number, description: string): NatsError {
  const e = new NatsError(description, String(code));
  e.api_error = { code, err_code: errCode, description };
  return e;
}

describe('classifyPublishError', () => {
  it('no responders: retryable, naming the stream to create', () => {
    expect(classifyPublishError(new NatsError('503', '503'), ctx)).toEqual({
      ok: false,
      retryable: true,
      status: 503,
      error:
        "no JetStream stream captures subject \"plant.lyon-edge-01.reading\": create one (e.g. nats stream add PLANT --subjects 'plant.lyon-edge-01.>' --storage file --replicas 3 --dupe-window 2m) or fix the sink's subject; batches wait in the journal, none is dead-lettered",
    });
  });

  it('a timeout is retried with the same Nats-Msg-Id', () => {
    const out = classifyPublishError(new NatsError('TIMEOUT', 'TIMEOUT'), ctx);
    expect(out).toMatchObject({ retryable: true });
    expect(out.error).toMatch(/no PubAck within 10000 ms .*same Nats-Msg-Id/);
  });

  it('too large for the server or the stream: permanent', () => {
    expect(
      classifyPublishError(new NatsError('max payload exceeded', 'MAX_PAYLOAD_EXCEEDED'), ctx),
    ).toMatchObject({
      retryable: false,
    });
    const out = classifyPublishError(apiError(400, 10054, 'message size exceeds maximum allowed'), ctx);
    expect(out).toEqual({
      ok: false,
      retryable: false,
      error:
        'the stream rejected the message for good: message size exceeds maximum allowed (err_code 10054); 1000 record(s)',
    });
  });

  it('stream limits and permissions: retried with the server words', () => {
    expect(classifyPublishError(apiError(503, 10077, 'maximum messages exceeded'), ctx)).toMatchObject({
      retryable: true,
      error: 'the stream refused the message: maximum messages exceeded (err_code 10077)',
    });
    const perm = classifyPublishError(
      new NatsError('Permissions Violation for Publish to "plant.x"', 'PERMISSIONS_VIOLATION'),
      ctx,
    );
    expect(perm).toMatchObject({ retryable: true });
    expect(perm.error).toMatch(/may not publish to "plant.lyon-edge-01.reading".*grant it on the server/);
  });
});
