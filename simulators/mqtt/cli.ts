// `plantgate sim mqtt`: an embedded broker plus the line publisher, until SIGINT/SIGTERM. Also runnable
// directly: `npx tsx simulators/mqtt/cli.ts --port 1883 --rate 100 --malformed-every 50`.
import { runIfMain, untilStopped } from '../kit/standalone.js';
import { startBroker } from './broker.js';
import { type LinePublisher, startLinePublisher } from './line-publisher.js';

function int(v: unknown, dflt: number | undefined, name: string, min = 0): number | undefined {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new RangeError(`--${name} must be an integer >= ${min}, got ${String(v)}`);
  return n;
}

/**
 * Args (yargs-style keys, dashes or underscores): port (default 1883; 0 lets the OS pick), ws_port (WebSocket,
 * none when absent), host (127.0.0.1), rate (messages/s, default 10; 0 = broker only), malformed_every (every
 * Nth message malformed; default 20, 0 = none), lines (number of machines, default 3), topic_prefix (default
 * lyon/line2), qos (0|1, default 1), limit, url (publish to this external broker, e.g. a plant mosquitto,
 * instead of starting one). Returns the exit code.
 */
export async function runStandalone(args: Record<string, unknown>): Promise<number> {
  const get = (k: string) => args[k] ?? args[k.replace(/_/g, '-')];
  let port: number;
  let wsPort: number | undefined;
  let rate: number;
  let malformedEvery: number | undefined;
  let lines: number | undefined;
  let qos: number;
  let limit: number | undefined;
  try {
    port = int(get('port'), 1883, 'port') as number;
    wsPort = int(get('ws_port'), undefined, 'ws-port');
    rate = int(get('rate'), 10, 'rate') as number;
    malformedEvery = int(get('malformed_every'), 20, 'malformed-every');
    lines = int(get('lines'), undefined, 'lines', 1);
    qos = int(get('qos'), 1, 'qos') as number;
    limit = int(get('limit'), undefined, 'limit', 1);
    if (port > 65535 || (wsPort !== undefined && wsPort > 65535))
      throw new RangeError('ports go up to 65535');
    if (qos > 1) throw new RangeError('--qos must be 0 or 1');
  } catch (err) {
    process.stderr.write(`sim mqtt: ${(err as Error).message}\n`);
    return 2;
  }
  const host = typeof get('host') === 'string' ? (get('host') as string) : '127.0.0.1';
  const prefix = typeof get('topic_prefix') === 'string' ? (get('topic_prefix') as string) : 'lyon/line2';

  const external = typeof get('url') === 'string' ? (get('url') as string) : undefined;
  let broker: Awaited<ReturnType<typeof startBroker>> | undefined;
  if (external === undefined) {
    try {
      broker = await startBroker({ port, host, ...(wsPort !== undefined ? { wsPort } : {}) });
    } catch (err) {
      process.stderr.write(`sim mqtt: cannot listen: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
    process.stdout.write(`MQTT broker (aedes, MQTT 3.1.1) listening on ${broker.url}\n`);
    if (broker.wsUrl) process.stdout.write(`  WebSocket: ${broker.wsUrl}\n`);
  }
  let publisher: LinePublisher | undefined;
  if (rate > 0) {
    try {
      publisher = await startLinePublisher({
        url: external ?? (broker as NonNullable<typeof broker>).url,
        rate,
        qos: qos as 0 | 1,
        topicPrefix: prefix,
        ...(malformedEvery ? { malformedEvery } : {}),
        ...(lines !== undefined ? { lines } : {}),
        ...(limit !== undefined ? { limit } : {}),
      });
    } catch (err) {
      process.stderr.write(
        `sim mqtt: cannot connect the publisher: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      await broker?.stop();
      return 1;
    }
    process.stdout.write(
      `  publishing ${rate} messages/s on ${prefix}/<machine>/telemetry` +
        (malformedEvery ? `, every ${malformedEvery}th malformed\n` : '\n'),
    );
  }
  await untilStopped();
  if (publisher) {
    await publisher.stop();
    process.stdout.write(`  sent ${publisher.sent} messages (${publisher.malformed} malformed)\n`);
  }
  await broker?.stop();
  return 0;
}

runIfMain(import.meta.url, 'sim mqtt', runStandalone);
