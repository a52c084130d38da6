/**
 * Errors across a worker-thread boundary: a thrown error becomes plain data on one side and the
 * same typed error (by code) on the other, so callers branch on codes as in one thread.
 */
import {
  ConflictError,
  ModelError,
  NotFoundError,
  PinnerFormerError,
  TransientError,
  ValidationError,
} from '../util/errors.ts';

export interface SerializedError {
  readonly name: string;
  readonly code?: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export function serializeError(error: unknown): SerializedError {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    name: e.name,
    message: e.message,
    ...(error instanceof PinnerFormerError ? { code: error.code, details: error.details } : {}),
  };
}

export function reviveError(error: SerializedError): Error {
  const byCode: Record<string, new (m: string, d?: Record<string, unknown>) => PinnerFormerError> = {
    VALIDATION: ValidationError,
    NOT_FOUND: NotFoundError,
    CONFLICT: ConflictError,
    MODEL: ModelError,
    TRANSIENT: TransientError,
  };
  const Ctor = error.code ? byCode[error.code] : undefined;
  if (Ctor) return new Ctor(error.message, error.details);
  if (error.code) return new PinnerFormerError(error.code, error.message, error.details);
  const plain = new Error(error.message);
  plain.name = error.name;
  return plain;
}
