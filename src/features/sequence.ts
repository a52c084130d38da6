/**
 * Sequence building (docs/model-interface.md, "Sequence"): the one implementation used both to
 * featurize a user and to merge a day's events into the previous sequence snapshot.
 */

/** One action of a user, as the featurizer and the sequence snapshot need it. */
export interface SequenceEvent {
  readonly item_id: string;
  readonly action: string;
  /** null when the event has no surface. */
  readonly surface: string | null;
  /** Epoch milliseconds, UTC. */
  readonly ts: number;
  /** null when the event has no duration. */
  readonly duration_ms: number | null;
}

export interface SequenceRules {
  /** Actions kept (the manifest's `vocab.action`); others, e.g. `hide`, are dropped. */
  readonly actions: ReadonlySet<string> | readonly string[];
  /** Keep the most recent `maxLength` events (the manifest's `dims.maxLength`). */
  readonly maxLength: number;
  /** Only events with `ts < cutoffMs` are kept. */
  readonly cutoffMs: number;
}

/** String order by UTF-16 code unit; identical to Python's code-point order for BMP ids. */
function compareStrings(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/** Orders by (ts, item_id, action, surface null first, duration_ms null first). */
export function compareEvents(a: SequenceEvent, b: SequenceEvent): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  const byItem = compareStrings(a.item_id, b.item_id);
  if (byItem !== 0) return byItem;
  const byAction = compareStrings(a.action, b.action);
  if (byAction !== 0) return byAction;
  if (a.surface !== b.surface) {
    if (a.surface === null) return -1;
    if (b.surface === null) return 1;
    return compareStrings(a.surface, b.surface);
  }
  if (a.duration_ms !== b.duration_ms) {
    if (a.duration_ms === null) return -1;
    if (b.duration_ms === null) return 1;
    return a.duration_ms - b.duration_ms;
  }
  return 0;
}

function sameKey(a: SequenceEvent, b: SequenceEvent): boolean {
  return a.ts === b.ts && a.item_id === b.item_id && a.action === b.action && a.surface === b.surface;
}

/**
 * Builds one user's sequence: filter to the vocabulary's actions and `ts < cutoffMs`, drop exact
 * duplicates (same item, action, surface, ts; the first in sort order wins), order ascending, keep
 * the last `maxLength`. Index 0 is the oldest kept event.
 */
export function buildSequence(events: Iterable<SequenceEvent>, rules: SequenceRules): SequenceEvent[] {
  const actions = rules.actions instanceof Set ? rules.actions : new Set(rules.actions as readonly string[]);
  const kept: SequenceEvent[] = [];
  for (const event of events) {
    if (event.ts < rules.cutoffMs && actions.has(event.action)) kept.push(event);
  }
  kept.sort(compareEvents);
  const unique: SequenceEvent[] = [];
  for (const event of kept) {
    const last = unique[unique.length - 1];
    if (last === undefined || !sameKey(last, event)) unique.push(event);
  }
  return unique.length > rules.maxLength ? unique.slice(unique.length - rules.maxLength) : unique;
}

/** The daily merge: the previous snapshot's sequence plus the new events, rebuilt by the same rules. */
export function mergeSequence(
  previous: readonly SequenceEvent[],
  incoming: readonly SequenceEvent[],
  rules: SequenceRules,
): SequenceEvent[] {
  if (incoming.length === 0 && previous.length <= rules.maxLength) return buildSequence(previous, rules);
  return buildSequence([...previous, ...incoming], rules);
}
