// Modbus frames on the wire, beside the modbus-serial server: counting Modbus TCP (MBAP) requests per unit and
// function code (the server itself reports none), and the RTU-over-TCP bridge that checks RTU frames' CRC and
// relays them to the TCP server, like a serial-to-Ethernet converter.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ModbusSimStats {
  /** Requests received (all units, all function codes). */
  requests: number;
  byUnit: Record<number, number>;
  byFunction: Record<number, number>;
}

/** Counts requests frame by frame on a Modbus TCP connection into `stats`. */
export function countFrames(sock: Socket, stats: ModbusSimStats): void {
  let buf: Buffer = Buffer.alloc(0);
  sock.on('data', (data: Buffer) => {
    buf = buf.length === 0 ? data : Buffer.concat([buf, data]);
    while (buf.length >= 8) {
      const len = buf.readUInt16BE(4);
      if (buf.length < 6 + len) break;
      const unit = buf[6] as number;
      const fc = buf[7] as number;
      stats.requests += 1;
      stats.byUnit[unit] = (stats.byUnit[unit] ?? 0) + 1;
      stats.byFunction[fc] = (stats.byFunction[fc] ?? 0) + 1;
      buf = buf.subarray(6 + len);
    }
  });
}

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), appended low byte first. */
function crc16(buf: Uint8Array): number {
  let crc = 0xffff;
  for (const b of buf) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Length of the RTU request at the start of `buf` (CRC included), or 0 while incomplete. */
function rtuRequestLength(buf: Buffer): number {
  if (buf.length < 2) return 0;
  const fc = buf[1] as number;
  if (fc === 15 || fc === 16) return buf.length < 7 ? 0 : 9 + (buf[6] as number);
  return 8;
}

/**
 * RTU over TCP: each connection gets its own Modbus TCP connection to the simulator; RTU requests are
 * checked (CRC), wrapped in MBAP and their answers unwrapped again, one at a time as on a serial line.
 */
export function rtuBridge(tcpPort: () => number, host: string): { server: Server; sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  const server = createServer((rtu) => {
    const inner = connect({ port: tcpPort(), host });
    sockets.add(rtu);
    sockets.add(inner);
    let pending = Buffer.alloc(0);
    let answers = Buffer.alloc(0);
    let tid = 0;
    inner.on('data', (data: Buffer) => {
      answers = Buffer.concat([answers, data]);
      while (answers.length >= 6 && answers.length >= 6 + answers.readUInt16BE(4)) {
        const pdu = answers.subarray(6, 6 + answers.readUInt16BE(4));
        answers = answers.subarray(6 + pdu.length);
        const out = Buffer.alloc(pdu.length + 2);
        pdu.copy(out);
        out.writeUInt16LE(crc16(pdu), pdu.length);
        rtu.write(out);
      }
    });
    rtu.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (let n = rtuRequestLength(pending); n > 0 && pending.length >= n; n = rtuRequestLength(pending)) {
        const frame = pending.subarray(0, n);
        pending = pending.subarray(n);
        // A frame with a bad CRC is ignored, as a serial device would.
        if (crc16(frame.subarray(0, n - 2)) !== frame.readUInt16LE(n - 2)) continue;
        const mbap = Buffer.alloc(6);
        tid = (tid + 1) & 0xffff;
        mbap.writeUInt16BE(tid, 0);
        mbap.writeUInt16BE(n - 2, 4);
        inner.write(Buffer.concat([mbap, frame.subarray(0, n - 2)]));
      }
    });
    const close = () => {
      rtu.destroy();
      inner.destroy();
      sockets.delete(rtu);
      sockets.delete(inner);
    };
    inner.on('error', close);
    inner.on('close', close);
    rtu.on('error', close);
    rtu.on('close', close);
  });
  return { server, sockets };
}
