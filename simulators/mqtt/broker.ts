// An embedded MQTT 3.1.1 broker (aedes) over TCP and optionally WebSocket, for tests, the demo and
// `plantgate sim mqtt`. It can be restarted on the same ports, with or without its sessions, to play a broker
// restart. An independent peer: it imports nothing from the product.
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';

export interface BrokerOptions {
  /** TCP port; 0 (default) lets the OS choose. */
  port?: number;
  /** WebSocket port (path /mqtt and any other path); no WebSocket listener when absent. 0 lets the OS choose. */
  wsPort?: number;
  host?: string;
  /** When set, CONNECT must carry this user name and password. */
  auth?: { username: string; password: string };
  /** Extra aedes options (concurrency, drainTimeout...). */
  aedes?: Partial<AedesOptions>;
}

export interface RunningBroker {
  /** `mqtt://host:port` */
  url: string;
  /** `ws://host:port/mqtt`, when a WebSocket listener was asked for. */
  wsUrl: string | undefined;
  port: number;
  wsPort: number | undefined;
  /** The current aedes instance (a new one after a restart). */
  readonly aedes: Aedes;
  /**
   * Closes every connection and listener and starts again on the same ports. By default the sessions and their
   * queued messages are lost (like mosquitto with `persistence false`); `keepSessions` keeps them.
   */
  restart(opts?: { keepSessions?: boolean; downMs?: number }): Promise<void>;
  /** Drops every client connection without stopping the broker (a network blip). */
  dropClients(): void;
  /** Drops one client's connection (its session stays); false when it is not connected. */
  dropClient(clientId: string): boolean;
  /**
   * While set, PUBACKs from this client are received but forgotten: the messages stay unacknowledged in its
   * session and are redelivered on its next connection. For the broker, that is a gateway that crashed after
   * its journal synced a message and before the PUBACK left. `undefined` ends the mode.
   */
  losePubacks(clientId: string | undefined): void;
  stop(): Promise<void>;
}

async function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('the broker listener has no TCP address');
  return addr.port;
}

async function closeServer(server: NetServer | HttpServer): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function startBroker(opts: BrokerOptions = {}): Promise<RunningBroker> {
  const host = opts.host ?? '127.0.0.1';
  let persistence: unknown;
  let aedes: Aedes;
  let tcp: NetServer;
  let http: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  const sockets = new Set<Socket>();
  let port = opts.port ?? 0;
  let wsPort = opts.wsPort;
  let losePubacksOf: string | undefined;

  async function up(keepSessions: boolean): Promise<void> {
    const options: AedesOptions = { drainTimeout: 30_000, ...opts.aedes };
    if (keepSessions && persistence !== undefined) options.persistence = persistence;
    aedes = await Aedes.createBroker(options);
    persistence = (aedes as unknown as { persistence: unknown }).persistence;
    // aedes clears an acknowledged message from the session in outgoingClearMessageId (handlers/puback.js).
    const store = persistence as {
      outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<unknown>;
      __pubackLossWrapped?: boolean;
    };
    if (!store.__pubackLossWrapped) {
      const clear = store.outgoingClearMessageId.bind(store);
      store.outgoingClearMessageId = (client, packet) =>
        client.id === losePubacksOf ? Promise.resolve(undefined) : clear(client, packet);
      store.__pubackLossWrapped = true;
    }
    const auth = opts.auth;
    if (auth) {
      aedes.authenticate = (_client, username, password, done) => {
        if (username === auth.username && password?.toString() === auth.password) {
          done(null, true);
          return;
        }
        const err = Object.assign(new Error('bad user name or password'), { returnCode: 4 as const });
        done(err, null);
      };
    }
    const handle = aedes.handle.bind(aedes);
    tcp = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      handle(socket);
    });
    port = await listen(tcp, port, host);
    if (wsPort !== undefined) {
      http = createHttpServer((_req, res) => {
        res.writeHead(426).end('MQTT over WebSocket only\n');
      });
      wss = new WebSocketServer({ server: http });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => ws.terminate());
        handle(stream, req);
      });
      wsPort = await listen(http, wsPort, host);
    }
  }

  async function down(): Promise<void> {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const s of sockets) s.destroy();
    sockets.clear();
    const closing: Promise<void>[] = [closeServer(tcp)];
    if (wss) {
      for (const c of wss.clients) c.terminate();
      wss.close();
    }
    if (http) {
      http.closeAllConnections();
      closing.push(closeServer(http));
    }
    await Promise.all(closing);
    wss = undefined;
    http = undefined;
  }

  await up(false);
  let stopped = false;

  const broker: RunningBroker = {
    get url() {
      return `mqtt://${host}:${port}`;
    },
    get wsUrl() {
      return wsPort === undefined ? undefined : `ws://${host}:${wsPort}/mqtt`;
    },
    get port() {
      return port;
    },
    get wsPort() {
      return wsPort;
    },
    get aedes() {
      return aedes;
    },
    async restart(r = {}) {
      if (stopped) throw new Error('the broker was stopped');
      await down();
      if (r.downMs && r.downMs > 0) await new Promise((res) => setTimeout(res, r.downMs));
      await up(r.keepSessions ?? false);
    },
    dropClients() {
      for (const s of sockets) s.destroy();
      if (wss) for (const c of wss.clients) c.terminate();
    },
    dropClient(clientId: string) {
      const c = (aedes as unknown as { clients: Record<string, { close(): void } | undefined> }).clients[
        clientId
      ];
      if (!c) return false;
      c.close();
      return true;
    },
    losePubacks(clientId: string | undefined) {
      losePubacksOf = clientId;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await down();
    },
  };
  return broker;
}
