// Who holds a TCP port or a Unix socket, for the start-up message "127.0.0.1:9464 is in use by another
// process (pid N)". Linux only, best effort: /proc/net lists the socket's inode, /proc/<pid>/fd links to it;
// processes of other users are invisible unless we are root, and then the pid is simply not named.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';

/** Inodes of listening TCP sockets on `port` (any address), from /proc/net/tcp and tcp6. */
function tcpListenInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st ... inode (10th field); st 0A = LISTEN.
      if (f.length > 9 && f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A' && f[9] && f[9] !== '0')
        inodes.add(f[9]);
    }
  }
  return inodes;
}

/** Inodes of Unix sockets bound to `path`, from /proc/net/unix. */
function unixInodes(path: string): Set<string> {
  const inodes = new Set<string>();
  try {
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 8 && f[7] === path && f[6]) inodes.add(f[6]);
    }
  } catch {
    // not Linux
  }
  return inodes;
}

function pidsHolding(inodes: Set<string>): number[] {
  if (inodes.size === 0) return [];
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${e}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      try {
        if (wanted.has(readlinkSync(`/proc/${e}/fd/${fd}`))) {
          pids.push(Number(e));
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return pids;
}

/** Pids of processes listening on TCP `port`, when they can be seen. */
export function tcpPortOwners(port: number): number[] {
  return pidsHolding(tcpListenInodes(port));
}

/** Pids of processes holding the Unix socket at `path`, when they can be seen. */
export function unixSocketOwners(path: string): number[] {
  return pidsHolding(unixInodes(path));
}

/** " (pid 123)" or " (pids 1, 2)" or "" when unknown. */
export function pidNote(pids: readonly number[]): string {
  if (pids.length === 0) return '';
  return pids.length === 1 ? ` (pid ${pids[0]})` : ` (pids ${pids.join(', ')})`;
}

/** True when something accepts connections on the Unix socket at `path` (a live daemon, not a stale file). */
export function unixSocketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (v: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
