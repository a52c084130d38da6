import { ValidationError } from '../util/errors.ts';

/**
 * Why a whole file (not a single row) could not be used. Row-level problems never throw: they
 * become quarantine reasons (src/events/validate.ts).
 */
export type DataErrorReason =
  /** Not a parquet file, truncated, corrupt pages, unsupported encoding. */
  | 'unreadable_file'
  /** A required column (user_id, item_id, action, ts) is absent. */
  | 'missing_column'
  /** Input that cannot be written: column lengths differ, a vector has the wrong width, ... */
  | 'invalid_input';

/**
 * A data file or table is unusable as a whole. It is a ValidationError (code `VALIDATION`, never
 * retried, CLI exit 2) with a stable `reason` and the offending `file` when known.
 */
export class DataError extends ValidationError {
  public readonly reason: DataErrorReason;

  public constructor(
    reason: DataErrorReason,
    message: string,
    details?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, { reason, ...details }, options);
    this.reason = reason;
  }
}
