/**
 * Row validation of event files. Every way a row can be wrong maps to one stable reason code;
 * the first failing rule (in the order of QUARANTINE_REASONS) wins. The Python reader
 * (training/pinnerformer/events.py) implements the same rules in the same order; docs/data.md
 * lists them. File-level problems (unreadable file, missing required column) throw DataError.
 *
 * Validation is column-wise (`validateEventColumns`): one verdict byte per row and normalized
 * typed columns, no object per row, so a multi-million-row day fits in memory and time. The
 * row-object API (`validateEventTable` -> Event[]) is built on top of it.
 */
import type { ColumnKind, ColumnValues, DecodedTable } from '../io/parquet.ts';
import { DuplicateIndex } from './duplicates.ts';
import { DataError } from './errors.ts';
import {
  ACTIONS,
  DAY_MS,
  dayStartMs,
  type Event,
  type EventColumnName,
  MAX_DURATION_MS,
  REQUIRED_EVENT_COLUMNS,
} from './schema.ts';

export { DuplicateIndex } from './duplicates.ts';

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
   * Rows already accepted for this day (shared across the day's files so that a duplicate in
   * another file of the same day is caught too). Default: a fresh index.
   */
  readonly seen?: DuplicateIndex;
  readonly file?: string;
  /** Row number in the file of the first row validated (a row-group range of a big file); default 0. */
  readonly firstRow?: number;
}

export interface ValidationResult {
  readonly rows: number;
  readonly valid: Event[];
  readonly quarantined: QuarantinedRow[];
  readonly counts: Partial<Record<QuarantineReason, number>>;
}

/** Verdict byte of a valid row in ValidatedColumns.verdicts; a bad row holds 1 + its reason's index. */
export const VALID_ROW = 0;

/**
 * One validated event file, column-wise. Only rows whose verdict is VALID_ROW are events; for
 * them userId/itemId/action are non-blank strings, surface is normalized (blank -> null), ts is
 * epoch ms inside the day and durationMs is NaN where it is null.
 */
export interface ValidatedColumns {
  readonly rows: number;
  readonly validRows: number;
  /** Per row: VALID_ROW, or 1 + the index of its reason in QUARANTINE_REASONS. */
  readonly verdicts: Uint8Array;
  readonly userId: ArrayLike<string>;
  readonly itemId: ArrayLike<string>;
  readonly action: ArrayLike<string>;
  readonly surface: ArrayLike<string | null>;
  readonly ts: Float64Array;
  readonly durationMs: Float64Array;
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
  if (typeof v === 'string') {
    // The first code unit decides for the usual ids: printable ASCII is never trimmed away.
    const c = v.charCodeAt(0);
    if (c > 0x20 && c < 0x7f) return false;
    return v.trim() === '';
  }
  return v === null || v === undefined;
}

function toMs(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number') return v;
  return null;
}

/** toMs with NaN for null; a timestamp beyond Date's range (an invalid Date) is present but outside any day. */
function msOf(v: unknown): number {
  const ms = toMs(v);
  return ms === null ? Number.NaN : Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/** Epoch-ms view of a ts / duration column: NaN where the value is null (or not a time). */
function msColumn(values: ColumnValues | undefined, rows: number): Float64Array {
  if (values instanceof Float64Array) return values;
  const out = new Float64Array(rows);
  if (values === undefined) return out.fill(Number.NaN);
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    for (let i = 0; i < rows; i++) out[i] = Number(values[i]!);
  } else if (ArrayBuffer.isView(values)) {
    out.set(values as Int32Array | Float32Array);
  } else {
    for (let i = 0; i < rows; i++) out[i] = msOf(values[i]);
  }
  return out;
}

const ACTION_CODE: ReadonlyMap<string, number> = new Map(ACTIONS.map((a, i) => [a, i]));

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
  const ts = msOf(raw.ts);
  const duration = msOf(raw.duration_ms);
  const reason = checkValues(raw.user_id, raw.item_id, raw.action, ts, duration, dayStart, nowMs);
  if (reason !== VALID_ROW) return QUARANTINE_REASONS[reason - 1]!;
  return {
    userId: raw.user_id as string,
    itemId: raw.item_id as string,
    action: raw.action as Event['action'],
    surface: isBlank(raw.surface) ? null : (raw.surface as string),
    ts,
    durationMs: Number.isNaN(duration) ? null : duration,
  };
}

const NO_WRONG_KINDS: ReadonlySet<EventColumnName> = new Set();

/** Rules 2-9 over one row's values; VALID_ROW or 1 + the reason's index (a number: no allocation). */
function checkValues(
  userId: unknown,
  itemId: unknown,
  action: unknown,
  ts: number,
  duration: number,
  dayStart: number,
  nowMs: number,
): number {
  if (isBlank(userId)) return 2;
  if (isBlank(itemId)) return 3;
  if (typeof action !== 'string' || !ACTION_CODE.has(action)) return 4;
  if (Number.isNaN(ts)) return 5;
  if (ts < dayStart || ts >= dayStart + DAY_MS) return 6;
  if (ts > nowMs) return 7;
  // NaN (null) compares false on both sides: no duration is never negative nor absurd.
  if (duration < 0) return 8;
  if (duration > MAX_DURATION_MS) return 9;
  return VALID_ROW;
}

function requireColumns(table: DecodedTable, file: string | undefined): void {
  for (const name of REQUIRED_EVENT_COLUMNS) {
    if (!(name in table.kinds)) {
      throw new DataError('missing_column', `event file${file ? ` ${file}` : ''} has no ${name} column`, {
        file,
        column: name,
      });
    }
  }
}

const nullColumn = (rows: number): null[] => new Array<null>(rows).fill(null);

/**
 * Validates a decoded event file (decodeParquet output) column-wise. Throws
 * DataError('missing_column') when a required column is absent; every other problem quarantines
 * the row. Valid rows are added to `options.seen` (duplicates of it are quarantined).
 */
export function validateEventColumns(table: DecodedTable, options: ValidateOptions): ValidatedColumns {
  requireColumns(table, options.file);
  const rows = table.numRows;
  const dayStart = dayStartMs(options.date);
  const nowMs = options.nowMs ?? Date.now();
  const seen = options.seen ?? new DuplicateIndex();
  const firstRow = options.firstRow ?? 0;
  const raw = (name: EventColumnName): ColumnValues | undefined => table.columns[name];
  const wrongKind: ColumnValues[] = [];
  for (const [name, accepted] of Object.entries(ACCEPTED_KINDS) as [EventColumnName, readonly ColumnKind[]][]) {
    const kind = table.kinds[name];
    const values = raw(name);
    if (kind !== undefined && !accepted.includes(kind) && values !== undefined) wrongKind.push(values);
  }
  const userId = (raw('user_id') ?? nullColumn(rows)) as ArrayLike<unknown>;
  const itemId = (raw('item_id') ?? nullColumn(rows)) as ArrayLike<unknown>;
  const action = (raw('action') ?? nullColumn(rows)) as ArrayLike<unknown>;
  const rawSurface = (raw('surface') ?? nullColumn(rows)) as ArrayLike<unknown>;
  const ts = msColumn(raw('ts'), rows);
  const durationMs = msColumn(raw('duration_ms'), rows);
  const surface = new Array<string | null>(rows);
  const verdicts = new Uint8Array(rows);
  const quarantined: QuarantinedRow[] = [];
  const counts: Partial<Record<QuarantineReason, number>> = {};
  let validRows = 0;
  for (let i = 0; i < rows; i++) {
    let verdict = VALID_ROW;
    for (const values of wrongKind) {
      const v = values[i];
      if (v !== null && v !== undefined) {
        verdict = 1;
        break;
      }
    }
    if (verdict === VALID_ROW) {
      verdict = checkValues(userId[i], itemId[i], action[i], ts[i]!, durationMs[i]!, dayStart, nowMs);
    }
    const s = rawSurface[i];
    const normalized = isBlank(s) ? null : (s as string);
    surface[i] = normalized;
    if (verdict === VALID_ROW) {
      const a = action[i] as string;
      if (!seen.add(userId[i] as string, itemId[i] as string, ACTION_CODE.get(a)!, normalized, ts[i]!)) verdict = 10;
    }
    if (verdict === VALID_ROW) {
      validRows++;
      continue;
    }
    verdicts[i] = verdict;
    const reason = QUARANTINE_REASONS[verdict - 1]!;
    counts[reason] = (counts[reason] ?? 0) + 1;
    const values: Record<string, string | number | boolean | null> = {};
    for (const name of ['user_id', 'item_id', 'action', 'surface', 'ts', 'duration_ms'] as const) {
      const column = raw(name);
      values[name] = column === undefined ? null : jsonSafe(column[i]);
    }
    quarantined.push({ row: firstRow + i, reason, values, file: options.file });
  }
  return {
    rows,
    validRows,
    verdicts,
    userId: userId as ArrayLike<string>,
    itemId: itemId as ArrayLike<string>,
    action: action as ArrayLike<string>,
    surface,
    ts,
    durationMs,
    quarantined,
    counts,
  };
}

/** The valid rows of validated columns as Event objects, in file order. */
export function eventsOf(columns: ValidatedColumns): Event[] {
  const out = new Array<Event>(columns.validRows);
  let n = 0;
  for (let i = 0; i < columns.rows; i++) {
    if (columns.verdicts[i] !== VALID_ROW) continue;
    const duration = columns.durationMs[i]!;
    out[n++] = {
      userId: columns.userId[i]!,
      itemId: columns.itemId[i]!,
      action: columns.action[i] as Event['action'],
      surface: columns.surface[i]!,
      ts: columns.ts[i]!,
      durationMs: Number.isNaN(duration) ? null : duration,
    };
  }
  return out;
}

/**
 * Validates a decoded event file (decodeParquet output) into Event objects. Throws
 * DataError('missing_column') when a required column is absent; every other problem quarantines
 * the row.
 */
export function validateEventTable(table: DecodedTable, options: ValidateOptions): ValidationResult {
  const columns = validateEventColumns(table, options);
  return { rows: columns.rows, valid: eventsOf(columns), quarantined: columns.quarantined, counts: columns.counts };
}
