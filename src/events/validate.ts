/**
 * Row validation of event files. Every way a row can be wrong maps to one stable reason code;
 * the first failing rule (in the order of QUARANTINE_REASONS) wins. The Python reader
 * (training/pinnerformer/events.py) implements the same rules in the same order; docs/data.md
 * lists them. File-level problems (unreadable file, missing required column) throw DataError.
 */
import type { ColumnKind, ColumnValues, DecodedTable } from '../io/parquet.ts';
import { DataError } from './errors.ts';
import {
  DAY_MS,
  dayStartMs,
  type Event,
  type EventColumnName,
  isAction,
  MAX_DURATION_MS,
  REQUIRED_EVENT_COLUMNS,
} from './schema.ts';

export const QUARANTINE_REASONS = [
  'wrong_column_type',
  'missing_user_id',
  'missing_item_id',
  'unknown_action',
  'missing_ts',
  'ts_outside_day',
  'ts_in_future',
  'negative_duration',
  'absurd_duration',
  'duplicate_row',
] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

/** Column kinds each column may have; a non-null value in a column of another kind is wrong_column_type. */
export const ACCEPTED_KINDS: Readonly<Record<EventColumnName, readonly ColumnKind[]>> = {
  user_id: ['utf8'],
  item_id: ['utf8'],
  action: ['utf8'],
  surface: ['utf8'],
  ts: ['int', 'timestamp_ms'],
  duration_ms: ['int'],
};

export interface QuarantinedRow {
  /** Row index in its file. */
  readonly row: number;
  readonly reason: QuarantineReason;
  /** The raw values, JSON-safe (bigint and Date as strings/numbers), so nothing is lost. */
  readonly values: Readonly<Record<string, string | number | boolean | null>>;
  readonly file?: string;
}

export interface ValidateOptions {
  /** The file's day (YYYY-MM-DD, UTC): every ts must lie in [day 00:00, next day 00:00). */
  readonly date: string;
  /** "Now" for the future check; default Date.now(). */
  readonly nowMs?: number;
  /**
   * Keys of rows already accepted for this day (shared across the day's files so that a
   * duplicate in another file of the same day is caught too). Default: a fresh set.
   */
  readonly seen?: Set<string>;
  readonly file?: string;
}

export interface ValidationResult {
  readonly rows: number;
  readonly valid: Event[];
  readonly quarantined: QuarantinedRow[];
  readonly counts: Partial<Record<QuarantineReason, number>>;
}

/** Duplicate key: the model's definition of "the same event" (docs/model-interface.md). */
export function duplicateKey(e: {
  userId: string;
  itemId: string;
  action: string;
  surface: string | null;
  ts: number;
}): string {
  return `${e.userId}\u0000${e.itemId}\u0000${e.action}\u0000${e.surface ?? ''}\u0000${e.surface === null ? 0 : 1}\u0000${e.ts}`;
}

function jsonSafe(v: unknown): string | number | boolean | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return String(v);
}

function isBlank(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === 'string' && v.trim() === '');
}

function toMs(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number') return v;
  return null;
}

/** Validates one raw row; returns the event or the reason it is quarantined (duplicates excepted). */
export function checkRow(
  raw: {
    readonly user_id: unknown;
    readonly item_id: unknown;
    readonly action: unknown;
    readonly surface: unknown;
    readonly ts: unknown;
    readonly duration_ms: unknown;
  },
  dayStart: number,
  nowMs: number,
  wrongKind: ReadonlySet<EventColumnName> = NO_WRONG_KINDS,
): Event | QuarantineReason {
  for (const name of wrongKind) if (raw[name] !== null && raw[name] !== undefined) return 'wrong_column_type';
  return checkValues(raw.user_id, raw.item_id, raw.action, raw.surface, raw.ts, raw.duration_ms, dayStart, nowMs);
}

const NO_WRONG_KINDS: ReadonlySet<EventColumnName> = new Set();

/** Rules 2-9 over one row's values (positional, so the hot loop allocates only the Event). */
function checkValues(
  userId: unknown,
  itemId: unknown,
  action: unknown,
  surface: unknown,
  rawTs: unknown,
  rawDuration: unknown,
  dayStart: number,
  nowMs: number,
): Event | QuarantineReason {
  if (isBlank(userId)) return 'missing_user_id';
  if (isBlank(itemId)) return 'missing_item_id';
  if (!isAction(action)) return 'unknown_action';
  const ts = toMs(rawTs);
  if (ts === null) return 'missing_ts';
  if (ts < dayStart || ts >= dayStart + DAY_MS) return 'ts_outside_day';
  if (ts > nowMs) return 'ts_in_future';
  const duration = toMs(rawDuration);
  if (duration !== null && duration < 0) return 'negative_duration';
  if (duration !== null && duration > MAX_DURATION_MS) return 'absurd_duration';
  return {
    userId: userId as string,
    itemId: itemId as string,
    action,
    surface: isBlank(surface) ? null : (surface as string),
    ts,
    durationMs: duration,
  };
}

/**
 * Validates a decoded event file (decodeParquet output). Throws DataError('missing_column') when
 * a required column is absent; every other problem quarantines the row.
 */
export function validateEventTable(table: DecodedTable, options: ValidateOptions): ValidationResult {
  for (const name of REQUIRED_EVENT_COLUMNS) {
    if (!(name in table.kinds)) {
      throw new DataError(
        'missing_column',
        `event file${options.file ? ` ${options.file}` : ''} has no ${name} column`,
        {
          file: options.file,
          column: name,
        },
      );
    }
  }
  const dayStart = dayStartMs(options.date);
  const nowMs = options.nowMs ?? Date.now();
  const seen = options.seen ?? new Set<string>();
  const wrongKind = new Set<EventColumnName>();
  for (const [name, accepted] of Object.entries(ACCEPTED_KINDS) as [EventColumnName, readonly ColumnKind[]][]) {
    const kind = table.kinds[name];
    if (kind !== undefined && !accepted.includes(kind)) wrongKind.add(name);
  }
  const col = (name: EventColumnName): ColumnValues | undefined => table.columns[name];
  const userIds = col('user_id');
  const itemIds = col('item_id');
  const actions = col('action');
  const surfaces = col('surface');
  const tss = col('ts');
  const durations = col('duration_ms');
  const at = (values: ColumnValues | undefined, i: number): unknown => (values === undefined ? null : values[i]);
  const rawRow = (i: number) => ({
    user_id: at(userIds, i),
    item_id: at(itemIds, i),
    action: at(actions, i),
    surface: at(surfaces, i),
    ts: at(tss, i),
    duration_ms: at(durations, i),
  });

  const valid: Event[] = [];
  const quarantined: QuarantinedRow[] = [];
  const counts: Partial<Record<QuarantineReason, number>> = {};
  for (let i = 0; i < table.numRows; i++) {
    let result =
      wrongKind.size > 0
        ? checkRow(rawRow(i), dayStart, nowMs, wrongKind)
        : checkValues(
            at(userIds, i),
            at(itemIds, i),
            at(actions, i),
            at(surfaces, i),
            at(tss, i),
            at(durations, i),
            dayStart,
            nowMs,
          );
    if (typeof result !== 'string') {
      const key = duplicateKey(result);
      if (seen.has(key)) result = 'duplicate_row';
      else seen.add(key);
    }
    if (typeof result === 'string') {
      counts[result] = (counts[result] ?? 0) + 1;
      const values: Record<string, string | number | boolean | null> = {};
      for (const [k, v] of Object.entries(rawRow(i))) values[k] = jsonSafe(v);
      quarantined.push({ row: i, reason: result, values, file: options.file });
    } else {
      valid.push(result);
    }
  }
  return { rows: table.numRows, valid, quarantined, counts };
}
