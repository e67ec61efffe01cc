// The `url:` of an MQTT client (the source and the sink): mqtt, mqtts, ws or wss, with no credentials in it.
import { z } from 'zod';
import { urlHasNoCredentials } from './primitives.js';

/** `example` is what the error message suggests, e.g. "mqtts://broker.plant.local:8883". */
export function brokerUrl(example: string) {
  return z
    .string()
    .refine(urlHasNoCredentials, {
      message: 'put no credentials in the URL: use auth (username with password_env or password_file)',
    })
    .refine(
      (s) => {
        try {
          const u = new URL(s);
          return ['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== '';
        } catch {
          return false;
        }
      },
      { message: `expected a broker URL with mqtt://, mqtts://, ws:// or wss://, e.g. ${example}` },
    );
}
