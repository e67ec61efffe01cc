// The adapter registry: one line per protocol. The config schema and the daemon are built from this list.
import { generator } from './generator/index.js';
import type { AdapterDefinition, SourceConfigBase } from './kit/types.js';
import { modbus } from './modbus/index.js';
import { mqtt } from './mqtt/index.js';
import { opcua } from './opcua/index.js';

export const adapters: ReadonlyArray<AdapterDefinition<SourceConfigBase>> = [
  generator as unknown as AdapterDefinition<SourceConfigBase>,
  modbus as unknown as AdapterDefinition<SourceConfigBase>,
  mqtt as unknown as AdapterDefinition<SourceConfigBase>,
  opcua as unknown as AdapterDefinition<SourceConfigBase>,
];
