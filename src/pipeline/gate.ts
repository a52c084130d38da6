import { describeReasonCounts } from '../events/reason-counts.ts';
import type { GateThresholds, PartitionResult, RunManifest, SliceResult } from './types.ts';

export const GATE_DEFAULTS: Required<GateThresholds> = {
  normTolerance: 1e-3,
  minMeanCosine: 0.2,
  maxMeanNorm: 0.98,
  maxInvalidShare: 0.05,
  minItemCoverageRatio: 0.5,
};

/** File-level reasons (a whole file unusable): any of them refuses the run. */
const FILE_REASONS = ['unreadable_file', 'missing_column'];

export interface GateVerdict {
  readonly passed: boolean;
  readonly reasons: string[];
  readonly checks: Record<string, number | boolean | null>;
}

type Thresholds = Required<GateThresholds>;
type Checks = GateVerdict['checks'];

/**
 * The publish gate over the stage results (a pure function: publish reads, this decides).
 * `results` holds the partitions that finished; any missing one refuses the run. Each check
 * below adds its reasons in turn, so the reasons keep this order.
 */
export function evaluateGate(
  run: Pick<RunManifest, 'partitions' | 'slices'> & Partial<Pick<RunManifest, 'date'>>,
  slices: readonly (SliceResult | undefined)[],
  results: readonly (PartitionResult | undefined)[],
  thresholds: GateThresholds = {},
  options: { readonly driftComparable: boolean } = { driftComparable: true },
): GateVerdict {
  const t = { ...GATE_DEFAULTS, ...thresholds };
  const reasons: string[] = [];
  const complete = completeness(run, slices, results, reasons);
  const done = results.filter((r): r is PartitionResult => r !== undefined);
  const finished = slices.filter((s): s is SliceResult => s !== undefined);
  const byReason = sumReasons(finished);
  const counts = countChecks(finished, done, complete, reasons);
  const values = valueChecks(done, counts.users, t, options.driftComparable, reasons);
  const quality = inputQuality(run.date, finished, byReason, t, reasons);
  const items = itemInputChecks(done, t, reasons);
  const files = fileChecks(finished, byReason, reasons);
  return { passed: reasons.length === 0, reasons, checks: { ...counts, ...values, ...quality, ...items, ...files } };
}

/** Every slice and partition finished; answers whether all did. */
function completeness(
  run: Pick<RunManifest, 'partitions' | 'slices'>,
  slices: readonly (SliceResult | undefined)[],
  results: readonly (PartitionResult | undefined)[],
  reasons: string[],
): boolean {
  const missingSlices = run.slices.filter((s) => !slices.some((r) => r?.slice === s.index)).map((s) => s.index);
  if (missingSlices.length > 0) reasons.push(`slices not finished: ${missingSlices.join(', ')}`);
  const missing: number[] = [];
  for (let p = 0; p < run.partitions; p++) if (!results.some((r) => r?.partition === p)) missing.push(p);
  if (missing.length > 0) reasons.push(`partitions not finished: ${missing.join(', ')}`);
  return missingSlices.length === 0 && missing.length === 0;
}

/** Counts: every routed row reached its partition; every selected user was written. */
function countChecks(
  finished: readonly SliceResult[],
  done: readonly PartitionResult[],
  complete: boolean,
  reasons: string[],
): Record<'routed' | 'read' | 'embedded' | 'written' | 'users', number> {
  const routed = finished.reduce((n, s) => n + s.routed, 0);
  const read = done.reduce((n, r) => n + r.workEvents, 0);
  if (complete && routed !== read) {
    reasons.push(`count mismatch: slices routed ${routed} events, partitions read ${read}`);
  }
  const embedded = done.reduce((n, r) => n + r.embeddedUsers, 0);
  const written = done.reduce((n, r) => n + r.writeStats.items, 0);
  const kept = done.reduce((n, r) => n + (r.writeStats.kept ?? 0), 0); // the write policy's skips
  if (embedded !== written + kept) {
    reasons.push(`count mismatch: ${embedded} users embedded, ${written} written and ${kept} kept as stored`);
  }
  const users = done.reduce((n, r) => n + r.stats.users, 0);
  const sequenceUsers = done.reduce((n, r) => n + r.users, 0);
  if (users !== sequenceUsers)
    reasons.push(`count mismatch: ${sequenceUsers} users with a sequence, ${users} embeddings`);
  return { routed, read, embedded, written, users };
}

/** Values: finite, unit norm, not collapsed onto one point, not drifted far from the previous version. */
function valueChecks(
  done: readonly PartitionResult[],
  users: number,
  t: Thresholds,
  driftComparable: boolean,
  reasons: string[],
): Checks {
  const nonFinite = done.reduce((n, r) => n + r.stats.nonFinite, 0);
  if (nonFinite > 0) reasons.push(`${nonFinite} embeddings hold NaN or infinite values`);
  const withUsers = done.filter((r) => r.stats.users > 0);
  const minNorm = withUsers.length ? Math.min(...withUsers.map((r) => r.stats.minNorm)) : null;
  const maxNorm = withUsers.length ? Math.max(...withUsers.map((r) => r.stats.maxNorm)) : null;
  if (minNorm !== null && maxNorm !== null && (minNorm < 1 - t.normTolerance || maxNorm > 1 + t.normTolerance)) {
    reasons.push(`norms ${minNorm.toFixed(6)}..${maxNorm.toFixed(6)} outside 1 ± ${t.normTolerance}`);
  }
  let meanNorm: number | null = null;
  if (users >= 2 && nonFinite === 0) {
    const dims = done[0]!.stats.sum.length;
    let s = 0;
    for (let d = 0; d < dims; d++) {
      const mean = done.reduce((acc, r) => acc + (r.stats.sum[d] ?? 0), 0) / users;
      s += mean * mean;
    }
    meanNorm = Math.sqrt(s);
    if (meanNorm > t.maxMeanNorm) {
      reasons.push(
        `collapse: the mean embedding has norm ${meanNorm.toFixed(4)} > ${t.maxMeanNorm} (users look alike)`,
      );
    }
  }
  const driftUsers = done.reduce((n, r) => n + r.stats.driftUsers, 0);
  const meanCosine = driftUsers > 0 ? done.reduce((n, r) => n + r.stats.driftCosineSum, 0) / driftUsers : null;
  if (driftComparable && meanCosine !== null && meanCosine < t.minMeanCosine) {
    reasons.push(
      `drift: mean cos(new, previous) ${meanCosine.toFixed(4)} < ${t.minMeanCosine} over ${driftUsers} users`,
    );
  }
  return { nonFinite, minNorm, maxNorm, meanNorm, driftUsers, meanCosine };
}

/** Valid and invalid rows per event day (one entry for the run's day when the slices predate per-day counts). */
function rowsByDay(date: string | undefined, finished: readonly SliceResult[], valid: number, invalid: number) {
  const days = new Map<string, { valid: number; invalid: number }>();
  for (const slice of finished) {
    for (const [day, counts] of Object.entries(slice.byDay ?? {})) {
      const sum = days.get(day) ?? { valid: 0, invalid: 0 };
      sum.valid += counts.valid;
      sum.invalid += counts.invalid;
      days.set(day, sum);
    }
  }
  if (days.size === 0) days.set(date ?? '', { valid, invalid }); // results written before per-day counts
  return days;
}

/** Input quality, judged per event day: catch-up days' rows cannot dilute a bad day. */
function inputQuality(
  date: string | undefined,
  finished: readonly SliceResult[],
  byReason: Record<string, number>,
  t: Thresholds,
  reasons: string[],
): Checks {
  const invalid = finished.reduce((n, s) => n + s.invalidEvents + s.historyInvalidEvents, 0);
  const valid = finished.reduce((n, s) => n + s.events + s.historyEvents, 0);
  const invalidShare = invalid + valid > 0 ? invalid / (invalid + valid) : 0;
  const days = rowsByDay(date, finished, valid, invalid);
  // Which rules the rows broke, over the whole run (slices count reasons, not reasons per day).
  const rowCounts = Object.fromEntries(Object.entries(byReason).filter(([r]) => !FILE_REASONS.includes(r)));
  const rowReasons =
    Object.keys(rowCounts).length === 0 ? '' : ` (quarantined rows in this run: ${describeReasonCounts(rowCounts)})`;
  let worstDayShare = 0;
  for (const [day, counts] of [...days].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const share = counts.invalid + counts.valid > 0 ? counts.invalid / (counts.invalid + counts.valid) : 0;
    worstDayShare = Math.max(worstDayShare, share);
    if (share > t.maxInvalidShare) {
      const where = day === date || day === '' ? '' : ` on catch-up day ${day}`;
      reasons.push(
        `invalid rows${where} ${(100 * share).toFixed(2)}% > ${(100 * t.maxInvalidShare).toFixed(2)}%${rowReasons}`,
      );
    }
  }
  return { invalidShare, worstDayInvalidShare: worstDayShare };
}

/** Inputs the model depends on: a model trained with item vectors needs the item table. */
function itemInputChecks(done: readonly PartitionResult[], t: Thresholds, reasons: string[]): Checks {
  const inputs = done.map((r) => r.itemInputs).filter((i) => i !== undefined);
  const itemEvents = inputs.reduce((n, i) => n + i.events, 0);
  const unknownItemEvents = inputs.reduce((n, i) => n + i.unknownItemEvents, 0);
  const unknownItemShare = itemEvents > 0 ? unknownItemEvents / itemEvents : 0;
  const itemVector = inputs[0]?.itemVector ?? 0;
  if (itemVector === 0 || itemEvents === 0) return { unknownItemShare };
  if (inputs.every((i) => i.tableItems === 0)) {
    reasons.push(
      `the model uses ${itemVector}-d item vectors and the item table (items/*.parquet) is missing or empty`,
    );
    return { unknownItemShare };
  }
  const trained = inputs[0]?.trainingCoverage;
  const coverage = 1 - unknownItemShare;
  if (trained !== undefined && coverage < t.minItemCoverageRatio * trained) {
    reasons.push(
      `the item table covers ${(100 * coverage).toFixed(2)}% of the events read, under ` +
        `${t.minItemCoverageRatio} x the ${(100 * trained).toFixed(2)}% the model saw in training: items/ is stale or partial`,
    );
  }
  return { unknownItemShare };
}

/** Whole files that could not be used (unreadable, a required column missing) refuse the run. */
function fileChecks(finished: readonly SliceResult[], byReason: Record<string, number>, reasons: string[]): Checks {
  const fileCounts = Object.fromEntries(FILE_REASONS.map((r) => [r, byReason[r] ?? 0]));
  const badFiles = Object.values(fileCounts).reduce((n, c) => n + c, 0);
  if (badFiles > 0) {
    const where = finished.map((s) => s.quarantineKey).filter((k): k is string => k !== undefined);
    reasons.push(
      `${badFiles} event files unusable (${describeReasonCounts(fileCounts)})` +
        (where.length > 0
          ? `; each file and why: ${where.slice(0, 3).join(', ')}${where.length > 3 ? ', …' : ''}`
          : ''),
    );
  }
  return { badFiles };
}

/** Quarantine reason counts summed over the finished slices. */
function sumReasons(slices: readonly SliceResult[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const slice of slices) {
    for (const [reason, n] of Object.entries(slice.invalidByReason)) sum[reason] = (sum[reason] ?? 0) + n;
  }
  return sum;
}
