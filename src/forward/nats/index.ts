// The `nats` sink kind as the registry sees it: its schema, how to build it, and how /status names its target
// (the servers and the subject template; credentials never appear in either).
import { defineSink } from '../kit/types.js';
import { type NatsSinkConfig, natsSinkSchema } from './config.js';
import { NatsSink } from './sink.js';
import { natsSubjectIssue } from './subject.js';

export const nats = defineSink<NatsSinkConfig>({
  type: 'nats',
  schema: natsSinkSchema,
  create: (config, env) =>
    new NatsSink({
      config,
      gatewayId: env.gatewayId,
      site: env.site,
      log: env.log,
      configFingerprint: env.configFingerprint,
    }),
  describe: (config) => `${config.servers.join(',')} subject ${config.subject}`,
  check: (config, gateway) => {
    const issue = natsSubjectIssue(config, gateway);
    return issue ? [issue] : [];
  },
});
