// The stable reason codes a sample can be quarantined with, each with the one sentence that /status,
// metrics and the docs show. Codes are part of the product's contract: add new ones, never rename.

export const REASONS = {
  unknown_signal: 'The signal name is not declared by any source (no exact name and no pattern matches).',
  bad_type:
    'The value, attributes or address have a type that cannot be a reading (object, array, null, undefined).',
  not_finite: 'The value is NaN or infinite.',
  unparseable:
    'The value cannot be read as the declared value type (e.g. "abc" for a number, 2 for a boolean).',
  not_integer: 'The signal is declared integer but its canonical value is not a safe integer.',
  bad_timestamp:
    'The timestamp is not a valid epoch number, Date or ISO 8601 date-time between years 0000 and 9999.',
  bad_status:
    'The status is neither an OPC UA status code (32-bit unsigned integer) nor good, uncertain or bad.',
  out_of_range: 'The canonical value lies outside the configured range.',
  not_in_enum: 'The canonical value is not one of the configured enum values.',
  missing_attr: 'A required attribute is missing or empty.',
  rate_of_change:
    'The value changed faster than max_rate_of_change since the last accepted value of the signal.',
  clock_skew: 'The timestamp lies further in the future than the configured skew tolerance.',
  too_long: 'The string value is longer than max_length characters.',
  internal_error: 'The gateway failed while handling the sample (a bug); the raw sample is kept for replay.',
} as const satisfies Record<string, string>;

export type ReasonCode = keyof typeof REASONS;

export const REASON_CODES: readonly ReasonCode[] = Object.freeze(Object.keys(REASONS) as ReasonCode[]);

export function isReasonCode(code: unknown): code is ReasonCode {
  return typeof code === 'string' && Object.hasOwn(REASONS, code);
}
