// How values arrive once the items are resolved: one subscription whose monitored items are created in chunks
// (grouped by sampling interval, queue size and deadband), or polled reads. Separate from connection.ts, which
// owns the lifecycle (watchdog, poll timer, close); this file only turns server answers into samples.
import {
  type ClientMonitoredItemBase,
  type ClientSession,
  type ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  type DataValue,
  DeadbandType,
  TimestampsToReturn,
} from 'node-opcua';
import type { RawSample } from '../../src/model/records.js';
import type { OpcuaSignalConfig, OpcuaSourceConfig } from './config.js';
import type { ConnectionHooks } from './hooks.js';
import { checkArray, chunks, type ResolvedItem, readValueId, type Unresolved } from './items.js';
import { toSample } from './values.js';

function monitoringKey(s: OpcuaSignalConfig, cfg: OpcuaSourceConfig): string {
  return JSON.stringify([
    s.sampling_interval ?? cfg.publishing_interval,
    s.queue_size ?? 1,
    s.deadband ?? null,
  ]);
}

export async function subscribe(
  session: ClientSession,
  cfg: OpcuaSourceConfig,
  items: ResolvedItem[],
  chunk: number,
  hooks: ConnectionHooks,
  markLost: (reason: string) => void,
  unresolved: Unresolved[],
): Promise<{ subscription: ClientSubscription; monitored: number; failed: number }> {
  const subscription = await session.createSubscription2({
    requestedPublishingInterval: cfg.publishing_interval,
    requestedMaxKeepAliveCount: cfg.keepalive_count,
    requestedLifetimeCount: cfg.keepalive_count * 6,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 10,
  });
  subscription.on('status_changed', (status: { name?: string }) => {
    if (status.name !== 'GoodSubscriptionTransferred')
      markLost(`the server changed the subscription status to ${status.name ?? String(status)}`);
  });
  subscription.on('terminated', () => markLost('the subscription was terminated'));
  subscription.on('internal_error', (err: Error) => markLost(`the subscription failed: ${err.message}`));

  // Notifications of one publish response arrive as a burst of synchronous "changed" events: gather them and
  // hand them over once, so one DataChangeNotification becomes one emit.
  let batch: RawSample[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const b = batch;
    batch = [];
    if (b.length > 0) hooks.onSamples(b);
  };
  const attrs = cfg.attrs;
  const onChanged = (it: ResolvedItem, dv: DataValue) => {
    checkArray(it, dv, cfg, hooks);
    batch.push(toSample(it, dv, attrs));
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };

  const groups = new Map<string, ResolvedItem[]>();
  for (const it of items) {
    const k = monitoringKey(it.cfg, cfg);
    const g = groups.get(k);
    if (g) g.push(it);
    else groups.set(k, [it]);
  }
  let monitored = 0;
  let failed = 0;
  for (const group of groups.values()) {
    const first = group[0] as ResolvedItem;
    const db = first.cfg.deadband;
    const params = {
      samplingInterval: first.cfg.sampling_interval ?? cfg.publishing_interval,
      queueSize: first.cfg.queue_size ?? 1,
      discardOldest: true,
      ...(db
        ? {
            filter: new DataChangeFilter({
              trigger: DataChangeTrigger.StatusValue,
              deadbandType: db.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
              deadbandValue: db.value,
            }),
          }
        : {}),
    };
    for (const part of chunks(group, chunk)) {
      const g = await subscription.monitorItems(part.map(readValueId), params, TimestampsToReturn.Both);
      hooks.count('create_monitored_items_calls');
      g.on('changed', (_mi: ClientMonitoredItemBase, dv: DataValue, index: number) => {
        const it = part[index];
        if (it) onChanged(it, dv);
      });
      g.monitoredItems.forEach((mi, i) => {
        const it = part[i] as ResolvedItem;
        if (mi.statusCode.isGood()) {
          monitored += 1;
          return;
        }
        failed += 1;
        if (/^BadNodeId/.test(mi.statusCode.name)) unresolved.push({ signal: it.signal, node: it.address });
        hooks.onProblem(
          `item:${it.signal}`,
          it.signal,
          `signal ${it.signal} is never read: node ${it.address} cannot be monitored on ${cfg.endpoint}: ${mi.statusCode.name}`,
          true,
        );
      });
    }
  }
  return { subscription, monitored, failed };
}

export async function poll(
  session: ClientSession,
  items: ResolvedItem[],
  chunk: number,
  cfg: OpcuaSourceConfig,
  hooks: ConnectionHooks,
): Promise<void> {
  for (const part of chunks(items, chunk)) {
    const dvs = await session.read(part.map(readValueId), 0);
    hooks.count('reads');
    const samples: RawSample[] = [];
    dvs.forEach((dv, i) => {
      const it = part[i] as ResolvedItem;
      if (dv.statusCode.name === 'BadNodeIdUnknown') {
        hooks.onProblem(
          `item:${it.signal}`,
          it.signal,
          `signal ${it.signal} is never read: node ${it.address} does not exist on ${cfg.endpoint} (BadNodeIdUnknown)`,
          true,
        );
      } else hooks.clearProblem(`item:${it.signal}`);
      checkArray(it, dv, cfg, hooks);
      samples.push(toSample(it, dv, cfg.attrs));
    });
    hooks.onSamples(samples);
  }
}
