/**
 * Typed errors shared by every module. Each carries a stable `code` so that handlers, the CLI and
 * tests can branch on the kind of failure without parsing messages.
 */
export class PinnerFormerError extends Error {
  public readonly code: string;
  public readonly details?: Record<string, unknown>;

  public constructor(code: string, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** Input given by a caller (CLI flag, event, request, file) is invalid. Never retried. */
export class ValidationError extends PinnerFormerError {
  public constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('VALIDATION', message, details, options);
  }
}

/** A thing that should exist does not (object, user, version, model file). */
export class NotFoundError extends PinnerFormerError {
  public constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('NOT_FOUND', message, details, options);
  }
}

/** A conditional write lost a race (pointer moved, run lock held by another run). */
export class ConflictError extends PinnerFormerError {
  public constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('CONFLICT', message, details, options);
  }
}

/** A model directory or model output is unusable (missing file, wrong dims, NaN, collapse). */
export class ModelError extends PinnerFormerError {
  public constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('MODEL', message, details, options);
  }
}

/** The publish gate refused a run. */
export class GateError extends PinnerFormerError {
  public constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('GATE', message, details, options);
  }
}

/** A dependency (DynamoDB, S3) kept failing after bounded retries. Safe to retry the whole step. */
export class TransientError extends PinnerFormerError {
  public constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super('TRANSIENT', message, details, options);
  }
}

/** A run's day has no events yet: the data may still arrive, so the daily run retries it later. */
export class EventsMissingError extends NotFoundError {}
