/**
 * The event data model: the input contract of the whole system (docs/data.md).
 *
 * Layout in the object store / output directory:
 *   events/dt=YYYY-MM-DD/*.parquet   one row per user action, every ts inside that UTC day
 *   items/*.parquet                  item_id + pretrained vector (fixed width float32)
 */
import { DATE_SHAPE, isValidDate } from '../contract/run-contract.ts';
import type { ColumnSpec } from '../io/parquet.ts';

export const ACTIONS = ['view', 'closeup', 'click', 'save', 'hide'] as const;
export type Action = (typeof ACTIONS)[number];

/** Known surfaces. `surface` is optional (null); other strings are kept and mean "unknown surface". */
export const SURFACES = ['home', 'search', 'related', 'profile'] as const;
export type Surface = (typeof SURFACES)[number];

/** One user action. `ts` is epoch milliseconds (UTC); `durationMs` null when not measured. */
export interface Event {
  readonly userId: string;
  readonly itemId: string;
  readonly action: Action;
  readonly surface: string | null;
  readonly ts: number;
  readonly durationMs: number | null;
}

/** Column names of an event file, in file order. */
export const EVENT_COLUMN_NAMES = ['user_id', 'item_id', 'action', 'surface', 'ts', 'duration_ms'] as const;
export type EventColumnName = (typeof EVENT_COLUMN_NAMES)[number];
/** Columns a file must have; `surface` and `duration_ms` may be absent (read as null). */
export const REQUIRED_EVENT_COLUMNS = ['user_id', 'item_id', 'action', 'ts'] as const;

/** The parquet schema we write. Readers also accept any integer width for ts/duration_ms and timestamp[ms] ts. */
export const EVENT_SCHEMA: readonly ColumnSpec[] = [
  { name: 'user_id', type: 'utf8' },
  { name: 'item_id', type: 'utf8' },
  { name: 'action', type: 'utf8' },
  { name: 'surface', type: 'utf8', nullable: true },
  { name: 'ts', type: 'int64' },
  { name: 'duration_ms', type: 'int32', nullable: true },
];

/** Default width of the pretrained item vectors (the paper's PinSage vectors are 256-d). */
export const DEFAULT_ITEM_VECTOR_DIM = 32;
export const ITEM_ID_COLUMN = 'item_id';
export const ITEM_VECTOR_COLUMN = 'vector';

/** A click or close-up counts as positive from this duration on (the paper's 10 s). */
export const POSITIVE_MIN_DURATION_MS = 10_000;
/** Durations above this are not plausible for one action (quarantined as absurd_duration). */
export const MAX_DURATION_MS = 86_400_000;
export const DAY_MS = 86_400_000;

/** The model's positive engagements: a save, or a click / close-up of at least 10 s. */
export function isPositive(action: string, durationMs: number | null): boolean {
  if (action === 'save') return true;
  return (action === 'click' || action === 'closeup') && durationMs !== null && durationMs >= POSITIVE_MIN_DURATION_MS;
}

const ACTION_SET: ReadonlySet<string> = new Set(ACTIONS);

export function isAction(value: unknown): value is Action {
  return typeof value === 'string' && ACTION_SET.has(value);
}

/** Epoch ms of 00:00:00 UTC on `date` (YYYY-MM-DD); throws RangeError for a malformed date. */
export function dayStartMs(date: string): number {
  if (!isValidDate(date)) throw new RangeError(`not a valid YYYY-MM-DD date: ${date}`);
  return Date.parse(`${date}T00:00:00Z`);
}

const EVENT_KEY_DAY = new RegExp(`(?:^|/)dt=(${DATE_SHAPE})/`);

/** The UTC day (YYYY-MM-DD) that contains `ms`. */
export function formatDay(ms: number): string {
  return new Date(Math.floor(ms / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

export function addDays(date: string, days: number): string {
  return formatDay(dayStartMs(date) + days * DAY_MS);
}

/** `events/dt=YYYY-MM-DD/` */
export function eventDayPrefix(date: string): string {
  return `events/dt=${date}/`;
}

/** The day of an events key like `events/dt=2026-01-02/part-00000.parquet`, or undefined. */
export function dayOfEventKey(key: string): string | undefined {
  const m = EVENT_KEY_DAY.exec(key);
  return m?.[1];
}
