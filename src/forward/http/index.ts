// The `http` sink kind as the registry sees it: its schema, how to build it, and how /status names its target.
import { defineSink } from '../kit/types.js';
import { maskUrl } from './classify.js';
import { type HttpSinkConfig, httpSinkSchema } from './config.js';
import { HttpSink } from './sink.js';

export const http = defineSink<HttpSinkConfig>({
  type: 'http',
  schema: httpSinkSchema,
  create: (config, env) =>
    new HttpSink({
      config,
      gatewayId: env.gatewayId,
      site: env.site,
      log: env.log,
      configFingerprint: env.configFingerprint,
    }),
  // User info and query values (`?api_key=...`) are masked: /status is readable by anyone on the host.
  describe: (config) => maskUrl(config.url),
});
