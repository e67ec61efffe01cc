// Registry entry of the `opcua` source. The adapter loads node-opcua only when it starts.
import type { ZodType } from 'zod';
import { defineAdapter } from '../kit/types.js';
import { OpcuaAdapter } from './adapter.js';
import { type OpcuaSourceConfig, opcuaSourceSchema } from './config.js';

export { type OpcuaSourceConfig, opcuaSourceSchema } from './config.js';
export { listRejected, pkiDirOf, trustServerCertificate } from './pki.js';

export const opcua = defineAdapter<OpcuaSourceConfig>({
  type: 'opcua',
  schema: opcuaSourceSchema as unknown as ZodType<OpcuaSourceConfig>,
  declarations: (cfg) => ({
    exact: cfg.signals.map(
      ({
        node: _n,
        browse_path: _b,
        sampling_interval: _si,
        queue_size: _q,
        deadband: _d,
        timestamp: _t,
        index: _i,
        ...spec
      }) => spec,
    ),
    patterns: [],
    // A subscription sends only changes: a quiet signal is not a stall. Its liveness is judged by the
    // subscription's keep-alives (missed ones mean reconnecting), so only polling declares an expected interval.
    expected_interval_ms: cfg.mode === 'poll' ? cfg.poll_interval : undefined,
  }),
  create: (cfg, env) => new OpcuaAdapter(cfg, env),
  check: (cfg) => {
    const issues: Array<{ path: Array<string | number>; message: string }> = [];
    const seen = new Map<string, number>();
    cfg.signals.forEach((s, i) => {
      const key = `${s.node ?? s.browse_path}#${s.index ?? ''}`;
      const prev = seen.get(key);
      if (prev !== undefined) {
        issues.push({
          path: ['signals', i, s.node !== undefined ? 'node' : 'browse_path'],
          message: `signal ${s.name} reads the same variable as signals[${prev}] (${cfg.signals[prev]?.name}); give each variable (or array element) one signal`,
        });
      } else seen.set(key, i);
    });
    return issues;
  },
});
