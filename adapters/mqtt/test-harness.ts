// Test harness for the MQTT adapter: an AdapterContext whose emit/reject record every call and resolve only
// when a gate lets them (standing in for "synced in the journal"), plus a deadline-bound poll helper.
import { pino } from 'pino';
import { type Truthy, waitFor } from '../../src/kit/testing/wait.js';
import type { RawSample } from '../../src/model/records.js';
import type { AdapterContext, AdapterEnv, EmitResult } from '../kit/types.js';
import { mqttSourceSchema, type ResolvedMqttSourceConfig } from './config.js';

export interface RejectCall {
  raw: string;
  reason: string;
  detail: string;
  address: string;
}

export interface TestContext {
  ctx: AdapterContext;
  emits: RawSample[][];
  rejects: RejectCall[];
  /** Emits and rejects wait while the gate is closed. */
  closeGate(): void;
  openGate(): void;
  /** The next `n` emit calls reject (as a closed journal would). */
  failNext(n: number): void;
  abort(): void;
  /** All samples emitted so far. */
  samples(): RawSample[];
}

export function createTestContext(id = 'line-2'): TestContext {
  const emits: RawSample[][] = [];
  const rejects: RejectCall[] = [];
  const controller = new AbortController();
  let gate: Promise<void> | undefined;
  let release: (() => void) | undefined;
  let failures = 0;
  const wait = async () => {
    while (gate) await gate;
  };
  const ctx: AdapterContext = {
    id,
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    signal: controller.signal,
    async emit(samples: readonly RawSample[]): Promise<EmitResult> {
      emits.push([...samples]);
      if (failures > 0) {
        failures -= 1;
        throw new Error('journal closed (test)');
      }
      await wait();
      return { accepted: samples.length, quarantined: 0 };
    },
    async reject(raw: string, reason: string, detail: string, address: string): Promise<void> {
      rejects.push({ raw, reason, detail, address });
      await wait();
    },
  };
  return {
    ctx,
    emits,
    rejects,
    closeGate() {
      if (gate) return;
      gate = new Promise((r) => {
        release = r;
      });
    },
    openGate() {
      const r = release;
      gate = undefined;
      release = undefined;
      r?.();
    },
    failNext(n: number) {
      failures = n;
    },
    abort() {
      controller.abort();
    },
    samples() {
      return emits.flat();
    },
  };
}

/** The shared waitFor in the argument order the MQTT tests use, checking every 20 ms. */
export function pollUntil<T>(
  cond: () => T | Promise<T>,
  what: string,
  timeoutMs = 15_000,
): Promise<Truthy<T>> {
  return waitFor(what, cond, { timeoutMs, intervalMs: 20 });
}

export const TEST_ENV: AdapterEnv = {
  gatewayId: 'test-gw',
  site: 'lyon',
  timezone: 'Europe/Paris',
  stateDir: '/tmp',
};

/** Parses a source config the way the config loader would (defaults applied). */
export function mqttConfig(input: Record<string, unknown>): ResolvedMqttSourceConfig {
  const { password, ...rest } = input;
  const cfg: ResolvedMqttSourceConfig = mqttSourceSchema.parse({ id: 'line-2', type: 'mqtt', ...rest });
  // `auth.password` is what the config loader adds after resolving auth.password_env/password_file.
  if (password !== undefined)
    cfg.auth = {
      ...cfg.auth,
      password: password as NonNullable<ResolvedMqttSourceConfig['auth']>['password'],
    };
  return cfg;
}
