/**
 * Which objects under `events/` are a day's data (docs/data.md, "Which files count"). The daily
 * job and training (training/pinnerformer/events.py: `list_event_day`) apply the same rules, and
 * every object they do not read is reported with its reason, never skipped in silence.
 */
import { DATE_SHAPE, isValidDate } from '../contract/run-contract.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { ValidationError } from '../util/errors.ts';
import { eventDayPrefix } from './schema.ts';

/** The Hive/Spark completion marker: the writer of a day puts it last. */
export const COMPLETION_MARKER = '_SUCCESS';

/** Why an object under `events/` is not read. */
export type IgnoredReason =
  /** Name starts with `.` or `_` (Hive/Spark metadata, checksums, editors' files). */
  | 'hidden'
  /** A file still being written or copied: `.inprogress`, `.tmp`, `._COPYING_`. */
  | 'in_progress'
  /** Any other name not ending in `.parquet` (any case). */
  | 'not_parquet'
  /** Inside a folder below the day folder: only the day folder's own files count. */
  | 'subfolder'
  /** Under `events/` but not in an `events/dt=YYYY-MM-DD/` folder naming a real day. */
  | 'not_a_day_folder';

export interface IgnoredFile {
  readonly key: string;
  readonly reason: IgnoredReason;
}

export interface EventFileInfo {
  readonly key: string;
  readonly size: number;
}

export interface EventDayListing {
  readonly date: string;
  /** The day's data files in key order: what the readers read. */
  readonly files: readonly EventFileInfo[];
  /** Objects in the day folder that are not read, with why (the marker is not among them). */
  readonly ignored: readonly IgnoredFile[];
  /** Whether `events/dt=D/_SUCCESS` is present. */
  readonly marker: boolean;
}

export interface EventListing {
  /** Every `dt=YYYY-MM-DD` folder holding any object, by date. */
  readonly days: ReadonlyMap<string, EventDayListing>;
  /** Objects under `events/` outside any day folder. */
  readonly ignored: readonly IgnoredFile[];
}

const DAY_FOLDER = new RegExp(`^events/dt=(${DATE_SHAPE})/(.+)$`);
const IN_PROGRESS = /\.(inprogress|tmp|_copying_)$/i;

/** What one name directly inside a day folder is: data, the marker, or ignored with a reason. */
export function classifyDayFileName(name: string): 'data' | 'marker' | IgnoredReason {
  if (name.includes('/')) return 'subfolder';
  if (name === COMPLETION_MARKER) return 'marker';
  if (IN_PROGRESS.test(name)) return 'in_progress';
  if (name.startsWith('.') || name.startsWith('_')) return 'hidden';
  return name.toLowerCase().endsWith('.parquet') ? 'data' : 'not_parquet';
}

interface DayParts {
  files: EventFileInfo[];
  ignored: IgnoredFile[];
  marker: boolean;
}

/** Sorts a listing of `events/` (e.g. `store.list('events/')`) into day folders and ignored objects. */
export function classifyEventObjects(objects: readonly EventFileInfo[]): EventListing {
  const days = new Map<string, DayParts>();
  const ignored: IgnoredFile[] = [];
  const sorted = [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const object of sorted) {
    const m = DAY_FOLDER.exec(object.key);
    if (!m || !isValidDate(m[1]!)) {
      ignored.push({ key: object.key, reason: 'not_a_day_folder' });
      continue;
    }
    let day = days.get(m[1]!);
    if (!day) {
      day = { files: [], ignored: [], marker: false };
      days.set(m[1]!, day);
    }
    const kind = classifyDayFileName(m[2]!);
    if (kind === 'data') day.files.push({ key: object.key, size: object.size });
    else if (kind === 'marker') day.marker = true;
    else day.ignored.push({ key: object.key, reason: kind });
  }
  const listings = new Map<string, EventDayListing>();
  for (const date of [...days.keys()].sort()) listings.set(date, { date, ...days.get(date)! });
  return { days: listings, ignored };
}

/** The listing of one day (no objects: no files, no marker). */
export async function listEventDay(source: Pick<ObjectStore, 'list'>, date: string): Promise<EventDayListing> {
  const listing = classifyEventObjects(await source.list(eventDayPrefix(date)));
  return listing.days.get(date) ?? { date, files: [], ignored: [], marker: false };
}

/** `{ reason: count }` of a day's ignored objects, for summaries. */
export function ignoredCounts(ignored: readonly IgnoredFile[]): Partial<Record<IgnoredReason, number>> {
  const counts: Partial<Record<IgnoredReason, number>> = {};
  for (const { reason } of ignored) counts[reason] = (counts[reason] ?? 0) + 1;
  return counts;
}

/** A day that must not run yet: the deployment requires the completion marker and it is absent. */
export class MissingMarkerError extends ValidationError {
  public readonly reason = 'missing_marker';
}

/**
 * Refuses a day without `_SUCCESS` when the deployment requires the marker (the writer of the
 * day has not finished: running now would publish part of it).
 */
export function assertDayComplete(listing: EventDayListing, requireMarker: boolean): void {
  if (!requireMarker || listing.marker) return;
  throw new MissingMarkerError(
    `events/dt=${listing.date}/ has no ${COMPLETION_MARKER} marker and this deployment requires one ` +
      `(the day's writer has not finished). Write ${COMPLETION_MARKER} once every file of the day is in place, ` +
      'or run without requiring the marker.',
    { date: listing.date, reason: 'missing_marker', files: listing.files.length },
  );
}
