// The product's pino logger: JSON lines to stdout (journald keeps them), secrets redacted by key.
import { type DestinationStream, type Logger, pino } from 'pino';

export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'auth',
  '*.auth',
  'secret',
  '*.secret',
];

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env.PLANTGATE_LOG_LEVEL ?? 'info';
  return pino(
    {
      name: 'plantgate',
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { pid: process.pid },
    },
    opts.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
