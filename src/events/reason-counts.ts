/**
 * Reason counts in words a person can act on: the CLI's and the gate's refusals name each
 * quarantine code and how many rows or files it hit, largest first, instead of pointing into a
 * slice's JSON.
 */

/** `{ duplicate_row: 12, ts_outside_day: 3 }` -> `duplicate_row 12, ts_outside_day 3` (largest first, then by name). */
export function describeReasonCounts(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  entries.sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? 'none' : entries.map(([reason, n]) => `${reason} ${n}`).join(', ');
}
