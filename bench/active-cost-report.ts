/**
 * reports/bench.md section 8 (issue 20, part 2): cost that follows active users, full snapshots
 * against deltas, with its targets. Registered by bench/report.ts and bench/targets.ts.
 */
import type { ActiveCostResult } from './active-cost.ts';
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
  return `Noise: on the 1:1 day both modes do the same work (every user changed, every user written), yet their seconds differ ${ratio(spread)} on this shared machine; seconds ratios within that factor are not differences. Bytes have no such noise.`;
}

export function renderActiveCost(r: ActiveCostResult | undefined): string[] {
  const out = ['## 8. Cost that follows active users', ''];
  if (!r)
    return [
      ...out,
      '(not run: `npx tsx bench/active-cost-run.ts`, then `npm run bench -- --render reports/bench.json`)',
      '',
    ];
  out.push(
    `Measured ${r.measuredAt} by bench/active-cost-run.ts. ${r.users} users with history (fixed), ${r.partitions} partitions; the same steady day run with a share of them active (each adding 4 saves), side by side in two modes from one bootstrap: **full** = a full snapshot of every user daily (\`--compact-every-days 1\`, the design before deltas), **delta** = the users the day changed only (src/pipeline/state-chain.ts; a full snapshot every ${r.compactEveryDays} days). Seconds = the embed stage's steps summed over partitions (read, merge, featurize, infer, write, snapshot; best of ${r.reps}), demo model on this CPU; bytes = the state files the day wrote.`,
    '',
    table(
      ['active share', 'active users', 'mode', 'embedded', 'embed s', 'state bytes written'],
      [...r.rows]
        .sort((a, b) => b.activeShare - a.activeShare || a.mode.localeCompare(b.mode))
        .map((row) => [
          `${Math.round(100 * row.activeShare)}%`,
          row.activeUsers,
          row.mode,
          row.embeddedUsers,
          row.embedSeconds,
          row.stateBytes,
        ]),
    ),
    '',
    table(
      [
        'mode',
        'exponent: seconds ∝ active^k',
        'exponent: bytes ∝ active^k',
        'per active user, 10:1 day / 1:1 day: seconds',
        'bytes',
      ],
      [
        [
          'full snapshot daily',
          r.exponents.full.seconds,
          r.exponents.full.bytes,
          ratio(r.perActiveRatio.full.seconds),
          ratio(r.perActiveRatio.full.bytes),
        ],
        [
          'delta day',
          r.exponents.delta.seconds,
          r.exponents.delta.bytes,
          ratio(r.perActiveRatio.delta.seconds),
          ratio(r.perActiveRatio.delta.bytes),
        ],
        [
          `deltas + a full day in ${r.compactEveryDays} (amortised)`,
          '',
          '',
          ratio(r.perActiveRatio.amortised.seconds),
          ratio(r.perActiveRatio.amortised.bytes),
        ],
      ],
    ),
    '',
    noiseNote(r),
    '',
    'A 1:1 day has every user active, so both modes write every user; at 10:1 a full snapshot still encodes and writes all of them, a delta only the tenth that changed. What a delta day still does for every user is read: it decodes the base and the deltas since (the previous state) and takes the gate\'s statistics over every user, so its seconds do not fall all the way with the active users (docs/scale.md, "Cost that follows active users").',
    '',
  );
  return out;
}

/** Where a 10:1 day's seconds went, delta against full: the steps a delta changes and the rest. */
function stepsNote(r: ActiveCostResult): string {
  const tenth = Math.min(...r.rows.map((x) => x.activeShare));
  const of = (mode: 'full' | 'delta') => r.rows.find((x) => x.mode === mode && x.activeShare === tenth)?.steps ?? {};
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
      target: `per active user, a 10:1 all-to-active day ≤ ${ACTIVE_COST_GOALS.perActiveRatio}× a 1:1 day, amortised with compaction every ${r.compactEveryDays} days (seconds and bytes)`,
      measured: `seconds ${ratio(a.seconds)}, bytes ${ratio(a.bytes)} (full snapshots daily: ${ratio(r.perActiveRatio.full.seconds)}, ${ratio(r.perActiveRatio.full.bytes)}) on ${r.users} users`,
      value: Math.max(a.seconds, a.bytes),
      goal: ACTIVE_COST_GOALS.perActiveRatio,
      atMost: true,
      why: (met) =>
        `${met ? 'a delta day encodes and writes only the users it changed, and the full snapshot comes once per compaction interval' : 'the seconds do not fall with the active users as the bytes do'}: ${stepsNote(r)}. ` +
        'Reading the whole previous state is the O(all users) part left, and at these partition sizes per-partition fixed costs and table writes weigh as much as the snapshot work a delta saves, so the seconds of a full snapshot daily fall nearly as far (docs/scale.md)',
    }),
    judge({
      name: 'Bytes written per day follow active users',
      target: `delta days: bytes ∝ active^k with k ≥ ${ACTIVE_COST_GOALS.bytesExponent} (full snapshots daily: k ≈ 0)`,
      measured: `k = ${r.exponents.delta.bytes} (delta), ${r.exponents.full.bytes} (full); seconds k = ${r.exponents.delta.seconds} (delta), ${r.exponents.full.seconds} (full)`,
      value: r.exponents.delta.bytes,
      goal: ACTIVE_COST_GOALS.bytesExponent,
      why: () => "a delta holds the changed users' sequences and embeddings only",
    }),
  ];
}
