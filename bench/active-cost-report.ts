/**
 * reports/bench.md section 8 (issue 20, part 2): cost that follows active users, full snapshots
 * against deltas, with its targets. Registered by bench/report.ts and bench/targets.ts.
 */
import { type ActiveCostResult, type ActiveCostRow, PHASES } from './active-cost.ts';
import type { TargetResult } from './types.ts';
import { judge } from './verdict.ts';

function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map((c) => String(c)).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const ratio = (x: number): string => `${x.toFixed(2)}×`;

/** The goals, fixed before the first measurement (docs/scale.md). */
export const ACTIVE_COST_GOALS = {
  /** Per active user, a 10:1 day (amortised with compaction) at most this many times a 1:1 day. */
  perActiveRatio: 5,
  /** Bytes written on a delta day grow with active users at least this steeply. */
  bytesExponent: 0.9,
} as const;

/** The two 1:1 days do the same work in both modes: how far apart their seconds are is the run's noise. */
function noiseNote(r: ActiveCostResult): string {
  const one = r.rows.filter((x) => x.activeShare === 1).map((x) => x.embedSeconds);
  if (one.length < 2) return '';
  const spread = Math.max(...one) / Math.min(...one);
  const reps = r.rows
    .filter((x) => x.embedSecondsRange !== undefined)
    .map((x) => x.embedSecondsRange![1] / x.embedSecondsRange![0]);
  const repSpread =
    reps.length > 0 ? ` The slowest rep of a row was up to ${ratio(Math.max(...reps))} its fastest.` : '';
  return `Noise: on the 1:1 day both modes do the same work (every user changed, every user written), yet their median seconds differ ${ratio(spread)} on this shared machine; seconds ratios within that factor are not differences.${repSpread} Bytes have no such noise.`;
}

export function renderActiveCost(r: ActiveCostResult | undefined): string[] {
  const out = ['## 8. Cost that follows active users', ''];
  if (!r)
    return [
      ...out,
      '(not run: `npx tsx bench/active-cost-run.ts`, then `npm run bench -- --render reports/bench.json`)',
      '',
    ];
  const phased = r.rows.every((row) => row.phases !== undefined);
  const sorted = [...r.rows].sort((a, b) => b.activeShare - a.activeShare || a.mode.localeCompare(b.mode));
  const phaseCells = (row: ActiveCostRow) => (phased ? PHASES.map((k) => row.phases![k]) : []);
  out.push(
    `Measured ${r.measuredAt} (bench/active-cost.ts, in \`npm run bench\` or alone with bench/active-cost-run.ts). ${r.users} users with history (fixed), ${r.partitions} partitions; the same steady day run with a share of them active (each adding 4 saves), side by side in two modes from one bootstrap: **full** = a full snapshot of every user daily (\`--compact-every-days 1\`, the design before deltas), **delta** = the users the day changed only (src/pipeline/state-chain.ts). Compaction is staggered over the partitions, so with deltas every day 1/${r.compactEveryDays} of the partitions writes a full snapshot: the amortised row is each day's cost, not a week's average. Seconds = the embed stage's steps summed over partitions, per phase (read = the work files and the previous state; merge = sequences and selection; embed = featurize + infer; write = waiting for the table writes; snapshot = encoding and putting the state files), each the median of ${r.reps} interleaved reps, demo model on this CPU; bytes = the state files the day wrote.`,
    '',
    table(
      [
        'active share',
        'active users',
        'mode',
        'embedded',
        ...(phased ? PHASES.map((k) => `${k} s`) : []),
        'embed stage s (median)',
        'state bytes written',
      ],
      sorted.map((row) => [
        `${Math.round(100 * row.activeShare)}%`,
        row.activeUsers,
        row.mode,
        row.embeddedUsers,
        ...phaseCells(row),
        row.embedSeconds,
        row.stateBytes,
      ]),
    ),
    '',
    table(
      [
        'mode',
        'exponent: seconds ∝ active^k',
        ...(phased ? PHASES.map((k) => `${k} s: k`) : []),
        'exponent: bytes ∝ active^k',
        'per active user, 10:1 day / 1:1 day: seconds',
        'bytes',
      ],
      [
        [
          'full snapshot daily',
          r.exponents.full.seconds,
          ...(phased && r.phaseExponents ? PHASES.map((k) => r.phaseExponents!.full[k]) : []),
          r.exponents.full.bytes,
          ratio(r.perActiveRatio.full.seconds),
          ratio(r.perActiveRatio.full.bytes),
        ],
        [
          'delta day',
          r.exponents.delta.seconds,
          ...(phased && r.phaseExponents ? PHASES.map((k) => r.phaseExponents!.delta[k]) : []),
          r.exponents.delta.bytes,
          ratio(r.perActiveRatio.delta.seconds),
          ratio(r.perActiveRatio.delta.bytes),
        ],
        [
          `deltas, 1/${r.compactEveryDays} of partitions compacting (amortised)`,
          '',
          ...(phased ? PHASES.map(() => '') : []),
          '',
          ratio(r.perActiveRatio.amortised.seconds),
          ratio(r.perActiveRatio.amortised.bytes),
        ],
      ],
    ),
    '',
    noiseNote(r),
    '',
    readNote(r),
    '',
  );
  return out;
}

/** What a delta day still does for every user, with its measured share. */
function readNote(r: ActiveCostResult): string {
  const base =
    "A 1:1 day has every user active, so both modes write every user; at 10:1 a full snapshot still encodes and writes all of them, a delta only the tenth that changed (and only the changed users' embedding rows are built on the output side). What a delta day still does for every user is read: it decodes the partition's base and the deltas since (the previous state: every user's last_embedded is needed to find the users the refresh age makes due, and parquet pages hold active and inactive users alike), merges the user lists and takes the gate's statistics over every user.";
  if (r.readShareAtTenth === undefined || !r.phaseExponents)
    return `${base} (docs/scale.md, "Cost that follows active users").`;
  return `${base} Measured: read is ${(100 * r.readShareAtTenth).toFixed(1)}% of the 10:1 delta day's seconds, with exponent ${r.phaseExponents.delta.read} in active users (full daily ${r.phaseExponents.full.read}); the phases that follow active users (embed ${r.phaseExponents.delta.embed}, write ${r.phaseExponents.delta.write}, snapshot ${r.phaseExponents.delta.snapshot} on delta days) are the rest (docs/scale.md, "Cost that follows active users").`;
}

/** Where a 10:1 day's seconds went, delta against full: the steps a delta changes and the rest. */
function stepsNote(r: ActiveCostResult): string {
  const tenth = Math.min(...r.rows.map((x) => x.activeShare));
  const of = (mode: 'full' | 'delta') => {
    const row = r.rows.find((x) => x.mode === mode && x.activeShare === tenth);
    return row?.phases ?? row?.steps ?? {};
  };
  const [d, f] = [of('delta'), of('full')];
  const s = (steps: Readonly<Record<string, number>>, k: string) => (steps[k] ?? 0).toFixed(2);
  return (
    `at 10:1 the delta day's snapshot step took ${s(d, 'snapshot')} s (full ${s(f, 'snapshot')} s) and merge ${s(d, 'merge')} s ` +
    `(full ${s(f, 'merge')} s), while reading the previous state took ${s(d, 'read')} s (full ${s(f, 'read')} s) and the table ` +
    `writes ${s(d, 'write')} s (full ${s(f, 'write')} s)`
  );
}

export function activeCostTargets(r: ActiveCostResult | undefined): TargetResult[] {
  if (!r) return [];
  const a = r.perActiveRatio.amortised;
  return [
    judge({
      name: 'Embed-stage cost follows active users (deltas with compaction)',
      target: `per active user, a 10:1 all-to-active day ≤ ${ACTIVE_COST_GOALS.perActiveRatio}× a 1:1 day, with 1/${r.compactEveryDays} of the partitions compacting each day (seconds and bytes; if cost followed all users it would be 10×)`,
      measured: `seconds ${ratio(a.seconds)}, bytes ${ratio(a.bytes)} (full snapshots daily: ${ratio(r.perActiveRatio.full.seconds)}, ${ratio(r.perActiveRatio.full.bytes)}) on ${r.users} users`,
      value: Math.max(a.seconds, a.bytes),
      goal: ACTIVE_COST_GOALS.perActiveRatio,
      atMost: true,
      why: (met) =>
        `${met ? `a delta day encodes and writes only the users it changed, and 1/${r.compactEveryDays} of the partitions write a full snapshot each day (staggered)` : 'the seconds do not fall with the active users as the bytes do'}: ${stepsNote(r)}. ` +
        `${r.readShareAtTenth === undefined ? 'Reading the whole previous state is the O(all users) part left' : `Reading the whole previous state is the O(all users) part left: ${(100 * r.readShareAtTenth).toFixed(1)}% of the 10:1 delta day`}, and at these partition sizes per-partition fixed costs and table writes weigh as much as the snapshot work a delta saves, so the seconds of a full snapshot daily fall nearly as far (docs/scale.md)`,
    }),
    judge({
      name: 'Bytes written per day follow active users',
      target: `delta days: bytes ∝ active^k with k ≥ ${ACTIVE_COST_GOALS.bytesExponent} (full snapshots daily: k ≈ 0)`,
      measured: `k = ${r.exponents.delta.bytes} (delta), ${r.exponents.full.bytes} (full); seconds k = ${r.exponents.delta.seconds} (delta), ${r.exponents.full.seconds} (full)${r.phaseExponents ? `; delta-day seconds by phase: ${PHASES.map((k) => `${k} ${r.phaseExponents!.delta[k]}`).join(', ')}` : ''}`,
      value: r.exponents.delta.bytes,
      goal: ACTIVE_COST_GOALS.bytesExponent,
      why: () => "a delta holds the changed users' sequences and embeddings only",
    }),
  ];
}
