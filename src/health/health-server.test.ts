// The read-only health endpoint over a real socket on a port the OS picks: each route answers as the daemon's
// did (codes, content types, bodies), 503 while starting, 405 for anything but GET and HEAD, a failing route is a
// 500 and the server goes on, a port another process holds is a ConfigError, and a route is one table entry.
import { createServer, type Server } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../kit/errors.js';
import { buildStatus } from './build-status.js';
import { type HealthApi, type HealthRoute, HealthServer, healthRoutes } from './health-server.js';
import type { StatusDocument } from './status-document.js';

const log = pino({ level: 'silent' });
const NOW = Date.parse('2026-11-30T10:00:00Z');

function statusDoc(): StatusDocument {
  return buildStatus({
    now: NOW,
    gateway: { id: 'lyon-edge-01', site: 'lyon' },
    rules: { stallAfterIntervals: 10, backlogDegradedAfterMs: 300_000, backlogFailingAfterMs: 3_600_000 },
    storage: { max_bytes: 1024, when_full: 'block', quarantine_max_bytes: 512, dead_letters_max_bytes: 512 },
    daemon: {
      version: '1.0.0',
      pid: 1,
      startedAt: NOW - 1000,
      configFile: 'plant.yaml',
      loadedAt: NOW - 1000,
      reloads: 0,
      ready: true,
    },
    sources: [
      {
        id: 'gen-1',
        type: 'generator',
        health: { state: 'connected' },
        startedAt: NOW - 1000,
        received: 3,
        ingested: 3,
        quarantined: 0,
        quarantinedByReason: {},
        duplicatesSuppressed: 0,
        ratePerS: 1,
        quality: { signals_seen: 1, signals_declared: 1, missing_signals: [] },
      },
    ],
    sinks: [],
    journal: {
      records: 3,
      bytes: 300,
      first_seq: 1,
      last_seq: 3,
      sinks: {},
      quarantine: { total: 0, by_reason: {} },
      dead_letters: { batches: 0, records: 0 },
      blocked: false,
    },
    eventsDerived: 0,
    recentDrops: {},
  });
}

const servers: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function serve(routes: HealthRoute[]): Promise<string> {
  const server = new HealthServer({ listen: { host: '127.0.0.1', port: 0 }, routes, log });
  servers.push(server);
  await server.start();
  const addr = server.address;
  if (!addr || addr.port === 0) throw new Error('no port');
  return `http://127.0.0.1:${addr.port}`;
}

async function get(url: string, method = 'GET') {
  const r = await fetch(url, { method });
  return {
    code: r.status,
    type: r.headers.get('content-type'),
    cache: r.headers.get('cache-control'),
    body: await r.text(),
  };
}

describe('HealthServer with the daemon routes', () => {
  it('answers 503 while starting, then serves /status and /metrics from the status document', async () => {
    const state = { started: false, ready: false };
    const api: HealthApi = {
      started: () => state.started,
      ready: () => state.ready,
      status: statusDoc,
      registry: new Registry(),
    };
    const url = await serve(healthRoutes(api));
    expect(await get(`${url}/healthz`)).toEqual({
      code: 200,
      type: 'application/json',
      cache: 'no-store',
      body: '{"alive":true}\n',
    });
    expect(await get(`${url}/readyz`)).toMatchObject({ code: 503, body: '{"ready":false}\n' });
    expect(await get(`${url}/status`)).toMatchObject({ code: 503, body: '{"status":"starting"}\n' });
    expect(await get(`${url}/metrics`)).toMatchObject({ code: 503, type: 'text/plain', body: 'starting\n' });

    state.started = true;
    state.ready = true;
    expect(await get(`${url}/readyz`)).toMatchObject({ code: 200, body: '{"ready":true}\n' });
    const status = await get(`${url}/status?pretty=1`);
    expect(status).toMatchObject({ code: 200, type: 'application/json', cache: 'no-store' });
    expect(status.body).toBe(`${JSON.stringify(statusDoc(), null, 2)}\n`);
    const metrics = await get(`${url}/metrics`);
    expect(metrics.code).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.body).toMatch(/^plantgate_samples_received_total\{source="gen-1"\} 3$/m);
  });

  it('refuses anything but GET and HEAD, and names the routes on a 404', async () => {
    const api: HealthApi = {
      started: () => true,
      ready: () => true,
      status: statusDoc,
      registry: new Registry(),
    };
    const url = await serve(healthRoutes(api));
    expect(await get(`${url}/status`, 'POST')).toMatchObject({ code: 405, body: 'method not allowed\n' });
    expect(await get(`${url}/healthz`, 'DELETE')).toMatchObject({ code: 405 });
    expect(await get(`${url}/healthz`, 'HEAD')).toMatchObject({
      code: 200,
      type: 'application/json',
      body: '',
    });
    expect(await get(`${url}/admin/reload`)).toEqual({
      code: 404,
      type: 'text/plain',
      cache: 'no-store',
      body: 'not found: try /healthz, /readyz, /status or /metrics\n',
    });
  });
});

describe('HealthServer', () => {
  it('serves a route added to the table, and lists it on a 404', async () => {
    const url = await serve([
      { path: '/healthz', answer: () => ({ code: 200, type: 'application/json', body: '{}' }) },
      { path: '/page', answer: async () => ({ code: 200, type: 'text/html', body: '<p>ok</p>' }) },
    ]);
    expect(await get(`${url}/page`)).toMatchObject({ code: 200, type: 'text/html', body: '<p>ok</p>' });
    expect((await get(`${url}/nope`)).body).toBe('not found: try /healthz or /page\n');
  });

  it('answers 500 for a route that throws or rejects, and keeps serving', async () => {
    const url = await serve([
      {
        path: '/throws',
        answer: () => {
          throw new Error('boom');
        },
      },
      { path: '/rejects', answer: () => Promise.reject(new Error('boom')) },
      { path: '/healthz', answer: () => ({ code: 200, type: 'text/plain', body: 'alive' }) },
    ]);
    expect(await get(`${url}/throws`)).toMatchObject({ code: 500, body: 'internal error\n' });
    expect(await get(`${url}/rejects`)).toMatchObject({ code: 500, body: 'internal error\n' });
    expect(await get(`${url}/healthz`)).toMatchObject({ code: 200, body: 'alive' });
  });

  it('refuses a port another process holds with a ConfigError that says what to set', async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const addr = holder.address();
    if (!addr || typeof addr === 'string') throw new Error('no port');
    try {
      const server = new HealthServer({ listen: { host: '127.0.0.1', port: addr.port }, routes: [], log });
      const err = await server.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^127\\.0\\.0\\.1:${addr.port} is in use by another process.*; set health\\.listen to a free address$`,
        ),
      );
      await server.stop(); // never started: a no-op
    } finally {
      await new Promise<void>((r) => holder.close(() => r()));
    }
  });

  it('stops with open keep-alive connections and frees its port', async () => {
    const server = new HealthServer({
      listen: { host: '127.0.0.1', port: 0 },
      routes: [{ path: '/healthz', answer: () => ({ code: 200, type: 'text/plain', body: 'alive' }) }],
      log,
    });
    await server.start();
    const port = server.address?.port;
    expect((await get(`http://127.0.0.1:${port}/healthz`)).code).toBe(200);
    await server.stop();
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((r) => again.close(() => r()));
  });
});
