// The `mqtt` sink kind as the registry sees it: its schema, how to build it, and how /status names its target.
import { defineSink } from '../kit/types.js';
import { type MqttSinkConfig, mqttSinkSchema, type ResolvedMqttSinkConfig } from './config.js';
import { MqttSink } from './sink.js';

export const mqtt = defineSink<MqttSinkConfig>({
  type: 'mqtt',
  schema: mqttSinkSchema,
  // The loader puts the resolved password next to its reference (auth.password): the sink reads only that.
  create: (config, env) => new MqttSink(config as ResolvedMqttSinkConfig, env),
  // The URL holds no credentials (the schema refuses them); Sparkplug shows its group and node too.
  describe: (config) =>
    config.format === 'sparkplug_b' && config.sparkplug
      ? `${config.url} (Sparkplug B ${config.sparkplug.group_id}/${config.sparkplug.edge_node_id ?? '<gateway id>'})`
      : config.url,
});
