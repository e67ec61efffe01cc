// One error base class for the whole product: a stable machine-readable code, whether a retry can help,
// and the ES2022 cause. Components throw subclasses; nobody string-matches messages.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_SECRET_MISSING'
  | 'JOURNAL_CLOSED'
  | 'JOURNAL_DAMAGED'
  | 'JOURNAL_FULL'
  | 'JOURNAL_LOCKED'
  | 'SINK_RETRYABLE'
  | 'SINK_PERMANENT'
  | 'SOURCE_CONNECT'
  | 'SOURCE_PROTOCOL'
  | 'ADMIN_UNAUTHORIZED'
  | 'ABORTED'
  /** A caller passed an argument outside what an API accepts (a page limit, a cursor): the caller's bug or input. */
  | 'INVALID_ARGUMENT'
  | 'INTERNAL';

export class PlantgateError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A configuration problem: fatal for the component, reported with its location, never retried. */
export class ConfigError extends PlantgateError {
  constructor(
    message: string,
    options: { cause?: unknown; code?: 'CONFIG_INVALID' | 'CONFIG_SECRET_MISSING' } = {},
  ) {
    super(options.code ?? 'CONFIG_INVALID', message, { retryable: false, cause: options.cause });
  }
}
