// Registry entry of the `mqtt` source: schema, the signal names it can produce (exact specs and one pattern
// per subscription template), cross-field checks, and the adapter factory.
import type { z } from 'zod';
import type { SignalDeclarations, SignalSpec } from '../../src/config/kit/signal.js';
import { defineAdapter } from '../kit/types.js';
import { type MqttSourceConfig, type MqttSubscriptionConfig, mqttSourceSchema } from './config.js';
import { templatePattern } from './mapping.js';
import { MqttAdapter } from './mqtt.js';

/** The subscription-level defaults (unit, range...) that apply to every signal of the subscription. */
function subscriptionDefaults(s: MqttSubscriptionConfig): Omit<SignalSpec, 'name'> {
  const {
    topic: _t,
    qos: _q,
    payload: _p,
    signal: _s,
    value_field: _v,
    ignore_fields: _i,
    timestamp: _ts,
    attrs_from: _a,
    signals: _sig,
    rebirth_interval: _r,
    ...defaults
  } = s;
  return defaults;
}

function patternRegex(pattern: string): RegExp {
  const body = pattern
    .split('.')
    .map((seg) => (seg === '*' ? '[^.]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('\\.');
  return new RegExp(`^${body}$`);
}

export function mqttDeclarations(cfg: MqttSourceConfig): SignalDeclarations {
  const exact: SignalSpec[] = [];
  const patterns: SignalDeclarations['patterns'] = [];
  for (const s of cfg.subscriptions) {
    const defaults = subscriptionDefaults(s);
    // Exact specs inherit the subscription's defaults and override them field by field.
    for (const sig of s.signals ?? []) exact.push({ ...defaults, ...sig });
    patterns.push({ pattern: templatePattern(s.signal), spec: defaults });
  }
  return { exact, patterns };
}

export const mqtt = defineAdapter<MqttSourceConfig>({
  type: 'mqtt',
  schema: mqttSourceSchema as unknown as z.ZodType<MqttSourceConfig>,
  declarations: mqttDeclarations,
  create: (cfg, env) => new MqttAdapter(cfg, env),
  check: (cfg) => {
    const problems: Array<{ path: Array<string | number>; message: string }> = [];
    cfg.subscriptions.forEach((s, i) => {
      const re = patternRegex(templatePattern(s.signal));
      (s.signals ?? []).forEach((sig, j) => {
        if (!re.test(sig.name)) {
          problems.push({
            path: ['subscriptions', i, 'signals', j, 'name'],
            message: `"${sig.name}" can never come from the template "${s.signal}" (each {...} stands for one lowercase segment)`,
          });
        }
      });
    });
    return problems;
  },
});
