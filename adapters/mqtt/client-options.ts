// MQTT.js connection options of the `mqtt` source: session, keep-alive, reconnect, credentials and TLS files.
import type { IClientOptions } from 'mqtt';
import { resolvedPassword } from '../../src/config/kit/password-auth.js';
import { readPem } from '../../src/config/kit/tls.js';
import { ConfigError } from '../../src/kit/errors.js';
import type { ResolvedMqttSourceConfig } from './config.js';

export function clientOptions(cfg: ResolvedMqttSourceConfig, clientId: string): IClientOptions {
  const o: IClientOptions = {
    clientId,
    clean: cfg.clean_start,
    keepalive: Math.round(cfg.keepalive / 1000),
    connectTimeout: cfg.connect_timeout,
    reconnectPeriod: cfg.reconnect.initial,
    reconnectOnConnackError: true,
    // Subscriptions are restored by the adapter itself, only when the broker lost the session.
    resubscribe: false,
    queueQoSZero: false,
    rejectUnauthorized: true,
  };
  if (cfg.auth?.username !== undefined) o.username = cfg.auth.username;
  const password = resolvedPassword(cfg.auth, `MQTT source "${cfg.id}"`);
  if (password !== undefined) o.password = password;
  if (cfg.tls) {
    const read = (path: string, what: string) => {
      try {
        return readPem(path, `TLS ${what}`);
      } catch (err) {
        throw new ConfigError(`MQTT source "${cfg.id}": ${(err as Error).message}.`, { cause: err });
      }
    };
    if (cfg.tls.ca_file) o.ca = read(cfg.tls.ca_file, 'CA');
    if (cfg.tls.cert_file) o.cert = read(cfg.tls.cert_file, 'client certificate');
    if (cfg.tls.key_file) o.key = read(cfg.tls.key_file, 'client key');
    if (cfg.tls.servername) o.servername = cfg.tls.servername;
  }
  return o;
}
