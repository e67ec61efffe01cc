// Prometheus metrics of the forwarders, as the hooks a Forwarder calls; one set per registry, labelled by sink.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ForwarderMetrics } from './forwarder.js';

export function createForwarderMetrics(registry: Registry): ForwarderMetrics {
  const attempts = new Counter({
    name: 'plantgate_sink_requests_total',
    help: 'Batch requests by sink and outcome (ok, retryable, permanent).',
    labelNames: ['sink', 'outcome'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'plantgate_sink_request_duration_seconds',
    help: 'Duration of successful batch requests, by sink.',
    labelNames: ['sink'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const delivered = new Counter({
    name: 'plantgate_sink_delivered_records_total',
    help: 'Records acknowledged by the sink (cursor moved past them).',
    labelNames: ['sink'] as const,
    registers: [registry],
  });
  const dead = new Counter({
    name: 'plantgate_sink_dead_lettered_records_total',
    help: 'Records of batches the sink rejected permanently (moved to dead letters).',
    labelNames: ['sink'] as const,
    registers: [registry],
  });
  const alarms = new Counter({
    name: 'plantgate_sink_alarms_total',
    help: 'Alarms raised by a sink, by reason (dead_letter; redirect: the receiver redirects, fix the url).',
    labelNames: ['sink', 'reason'] as const,
    registers: [registry],
  });
  const clamped = new Counter({
    name: 'plantgate_sink_retry_after_clamped_total',
    help: 'Retry-After answers longer than retry.max, waited for retry.max instead.',
    labelNames: ['sink'] as const,
    registers: [registry],
  });
  return {
    retryAfterClamped(sink) {
      clamped.inc({ sink });
    },
    attempt(sink, outcome, latencyMs) {
      attempts.inc({ sink, outcome });
      if (latencyMs !== undefined) latency.observe({ sink }, latencyMs / 1000);
    },
    delivered(sink, n) {
      delivered.inc({ sink }, n);
    },
    deadLettered(sink, n) {
      dead.inc({ sink }, n);
    },
    alarm(sink, reason) {
      alarms.inc({ sink, reason });
    },
  };
}
