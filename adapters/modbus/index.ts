// Registry entry of the `modbus` source: schema, declarations, extra config checks and the read plan printer.
import type { z } from 'zod';
import type { SignalSpec } from '../../src/config/kit/signal.js';
import { defineAdapter } from '../kit/types.js';
import { checkModbusSource } from './checks.js';
import { type ModbusSourceConfig, modbusSourceSchema, resolveDevices } from './config.js';
import { ModbusAdapter } from './modbus.js';
import { describePlan } from './plan.js';

export { type ModbusSourceConfig, modbusSourceSchema } from './config.js';
export { ModbusAdapter } from './modbus.js';

export const modbus = defineAdapter<ModbusSourceConfig>({
  type: 'modbus',
  schema: modbusSourceSchema as unknown as z.ZodType<ModbusSourceConfig>,
  declarations: (cfg) => {
    const exact: SignalSpec[] = [];
    const devices = cfg.devices ?? [{ signals: cfg.signals ?? [] }];
    const resolved = resolveDevices(cfg);
    devices.forEach((d, di) => {
      d.signals.forEach((s, si) => {
        const {
          register: _r,
          type: _t,
          bit: _b,
          length: _l,
          order: _o,
          word_order: _w,
          byte_order: _y,
          ...spec
        } = s;
        const type = resolved[di]?.signals[si]?.type;
        // Booleans and strings say so, so validation checks the kind; numbers stay numbers (scaling may
        // make an integer register fractional).
        if (spec.value_type === undefined && type === 'bool') spec.value_type = 'boolean';
        if (spec.value_type === undefined && type === 'string') spec.value_type = 'string';
        exact.push(spec);
      });
    });
    return { exact, patterns: [], expected_interval_ms: cfg.poll_interval };
  },
  create: (cfg) => new ModbusAdapter(cfg),
  check: (cfg) => checkModbusSource(cfg),
  describePlan: (cfg) => describePlan(cfg),
});
