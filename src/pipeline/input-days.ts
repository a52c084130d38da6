/**
 * What each day's run read, and what changed since: a fingerprint per event day (its data files'
 * keys and sizes), carried from run to run with the published state, so input that changes or
 * arrives after later days ran is reported by the next run instead of being skipped for good.
 */
import { createHash } from 'node:crypto';
import type { EventFileInfo, EventListing } from '../events/day-files.ts';

/** Why a day's input differs from what the published state was built from. */
export type InputChangeKind =
  /** The day's data files differ (added, removed, resized) from what its run read. */
  | 'changed'
  /** The day has data now but was not there when later days ran. */
  | 'late'
  /** The day was read, and its data files are gone now. */
  | 'removed';

export interface InputChange {
  readonly day: string;
  readonly kind: InputChangeKind;
}

/** sha256 over the day's data files (`key \t size`, key order), 16 hex digits; '' for no files. */
export function dayFingerprint(files: readonly EventFileInfo[]): string {
  if (files.length === 0) return '';
  const hash = createHash('sha256');
  for (const file of [...files].sort((a, b) => (a.key < b.key ? -1 : 1))) hash.update(`${file.key}\t${file.size}\n`);
  return hash.digest('hex').slice(0, 16);
}

/**
 * Days up to `upTo` (the state's newest day) whose input is not what the state was built from.
 * Days older than the oldest day the state read are not judged: no run ever looked at them.
 */
export function inputChanges(
  listing: EventListing,
  read: Readonly<Record<string, string>>,
  upTo: string,
): InputChange[] {
  const readDays = Object.keys(read).sort();
  const oldest = readDays[0];
  if (oldest === undefined) return [];
  const changes: InputChange[] = [];
  const days = new Set([...readDays, ...listing.days.keys()]);
  for (const day of [...days].sort()) {
    if (day < oldest || day > upTo) continue;
    const now = dayFingerprint(listing.days.get(day)?.files ?? []);
    const before = read[day];
    if (before === undefined) {
      if (now !== '') changes.push({ day, kind: 'late' });
    } else if (before !== now) {
      changes.push({ day, kind: now === '' ? 'removed' : 'changed' });
    }
  }
  return changes;
}

/** The command that replays from the earliest changed day, so later sequences include it. */
export function replayCommand(changes: readonly InputChange[], date: string): string | undefined {
  const earliest = changes.map((c) => c.day).sort()[0];
  return earliest === undefined ? undefined : `pinnerformer daily --date ${date} --replay-from ${earliest}`;
}
