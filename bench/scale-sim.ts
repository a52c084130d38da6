/**
 * Section 7: a plan for 10M, 100M and 1B users at 10% and 30% daily active, checked by a
 * simulation. The per-user figures come from the run's own measurements (sections 2 and 3 of the
 * same report, or of reports/bench.json when those sections were skipped); the sizing and the AWS
 * quotas are the product's (src/pipeline/sizing.ts). Also: how the embed stage's CPU splits between
 * the active users' work and re-encoding every user of a partition (docs/scale.md).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type SizingPlan, sizeDailyRun, type UserFigures } from '../src/pipeline/sizing.ts';
import { generateDataset } from '../src/synth/generate.ts';
import type { ActiveCostResult } from './active-cost.ts';
import { type CostProjection, PRICES } from './cost.ts';
import type { DailySizeResult } from './daily.ts';
import { round } from './stats.ts';
import { type WritePolicyResult, writeSkipShareOf } from './write-policy.ts';

/** The fields of a bench report (types.ts: BenchReport) that the scale plan reads. */
export interface ScaleSource {
  readonly daily: readonly DailySizeResult[];
  readonly projection?: CostProjection;
  /** Section 8: the whole-partition work of a day with deltas against a full snapshot daily. */
  readonly activeCost?: ActiveCostResult;
}

/**
 * The whole-partition work (read, merge, snapshot) the plan charges per partition user, from
 * section 8: with deltas and staggered compaction a day does (1 − 1/K) of a delta day's and 1/K
 * of a full snapshot's, against the full snapshot daily of the large day the figure is measured on.
 */
export interface AllUsersWork {
  /** Per partition user, full snapshot daily (the large steady day of section 2). */
  readonly fullDailySecondsPerUser: number;
  /** Amortised delta-day work over full-snapshot-daily work, at section 8's lowest active share. */
  readonly deltaRatio?: number;
  readonly atActiveShare?: number;
  readonly compactEveryDays?: number;
  /** What the plan charges: fullDailySecondsPerUser × deltaRatio (× 1 without section 8). */
  readonly secondsPerUser: number;
}

/** Prices beyond bench/cost.ts's (USD, us-east-1, as of 2025). */
export const SCALE_PRICES = {
  lambdaPerGbSecond: 0.0000166667,
  stepFunctionsPerThousandTransitions: 0.025,
  g5_4xlargePerHour: PRICES.g5_4xlargePerHour,
} as const;

/** Memory of the partition-stage Lambda (cdk/constructs/daily-run.ts). */
const PARTITION_LAMBDA_GB = 3008 / 1024;
/** Step Functions transitions per slice (Map iteration, task, retry-free) and per run. */
const TRANSITIONS_PER_SLICE = 4;

export interface EmbedSplit {
  readonly users: number;
  readonly embeddedUsers: number;
  /** Wall seconds of the embed stage's steps, summed over partitions (this CPU, demo model). */
  readonly wholePartitionSeconds: number;
  readonly activeSeconds: number;
  readonly wholePartitionShare: number;
  /** Per user of a partition (read, merge, snapshots), and per embedded user (featurize, infer, write). */
  readonly wholePartitionSecondsPerUser: number;
  readonly activeSecondsPerEmbeddedUser: number;
  /** The whole-partition share if only 10% of users were active (same per-user figures). */
  readonly wholePartitionShareAt10Percent: number;
}

export interface ScaleRow {
  readonly totalUsers: number;
  readonly activeShare: number;
  readonly plan: SizingPlan;
  readonly usdPerDay: {
    readonly partitionLambda: number;
    readonly stepFunctions: number;
    readonly s3Puts: number;
    readonly gpu: number;
    readonly dynamoWrites: number;
    readonly total: number;
  };
}

export interface ScaleResult {
  readonly figures: UserFigures & { readonly eventBytesPerEvent: number; readonly eventsPerActiveUser: number };
  readonly from: string;
  readonly split?: EmbedSplit;
  readonly allUsers?: AllUsersWork;
  readonly rows: readonly ScaleRow[];
}

/** Parquet bytes per event of the synthetic generator's daily files (measured on a small set). */
export async function measureEventBytes(workDir: string): Promise<number> {
  const out = join(workDir, 'scale-event-bytes');
  rmSync(out, { recursive: true, force: true });
  const summary = await generateDataset({ users: 5000, days: 3, seed: 5, start: '2026-02-01', out });
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.includes('/events/') && name.endsWith('.parquet')) bytes += statSync(path).size;
    }
  };
  walk(out);
  rmSync(out, { recursive: true, force: true });
  return bytes / summary.events;
}

/** The embed stage's split on the report's largest steady day with the shipped model. */
export function embedSplit(report: Pick<ScaleSource, 'daily'>): EmbedSplit | undefined {
  const size = [...report.daily].filter((d) => d.model === 'shipped').sort((a, b) => b.users - a.users)[0];
  const day = size?.runs.find((r) => r.role === 'steady');
  if (!size || !day) return undefined;
  const s = day.secondsByStep;
  const whole = (s.read ?? 0) + (s.merge ?? 0) + (s.snapshot ?? 0);
  const active = (s.featurize ?? 0) + (s.infer ?? 0) + (s.write ?? 0);
  const perUser = whole / size.users;
  const perEmbedded = active / Math.max(1, day.embeddedUsers);
  const at10 = (perUser * size.users) / (perUser * size.users + perEmbedded * 0.1 * size.users);
  return {
    users: size.users,
    embeddedUsers: day.embeddedUsers,
    wholePartitionSeconds: round(whole),
    activeSeconds: round(active),
    wholePartitionShare: round(whole / (whole + active)),
    wholePartitionSecondsPerUser: perUser,
    activeSecondsPerEmbeddedUser: perEmbedded,
    wholePartitionShareAt10Percent: round(at10),
  };
}

const wholePartitionOf = (phases: Readonly<Record<string, number>> | undefined): number | undefined =>
  phases === undefined ? undefined : (phases.read ?? 0) + (phases.merge ?? 0) + (phases.snapshot ?? 0);

/** Amortised delta-day whole-partition work over a full snapshot daily's, at section 8's lowest active share. */
export function deltaWholePartitionRatio(
  activeCost: ActiveCostResult | undefined,
): { ratio: number; activeShare: number; compactEveryDays: number } | undefined {
  if (activeCost === undefined) return undefined;
  const lowest = Math.min(...activeCost.rows.map((r) => r.activeShare));
  const at = (mode: 'full' | 'delta') =>
    wholePartitionOf(activeCost.rows.find((r) => r.activeShare === lowest && r.mode === mode)?.phases);
  const full = at('full');
  const delta = at('delta');
  if (full === undefined || delta === undefined || !(full > 0)) return undefined;
  const k = activeCost.compactEveryDays;
  const amortised = (1 - 1 / k) * delta + (1 / k) * full;
  return { ratio: amortised / full, activeShare: lowest, compactEveryDays: k };
}

/** The whole-partition seconds per partition user the plan charges (AllUsersWork), from the large day's split and section 8. */
export function allUsersWorkOf(split: EmbedSplit, activeCost: ActiveCostResult | undefined): AllUsersWork {
  const delta = deltaWholePartitionRatio(activeCost);
  const perUser = split.wholePartitionSecondsPerUser;
  if (delta === undefined) return { fullDailySecondsPerUser: perUser, secondsPerUser: perUser };
  return {
    fullDailySecondsPerUser: perUser,
    deltaRatio: round(delta.ratio),
    atActiveShare: delta.activeShare,
    compactEveryDays: delta.compactEveryDays,
    secondsPerUser: perUser * delta.ratio,
  };
}

/**
 * Per-user figures for the sizing, from a report: the GPU's time per user (the fp16 projection
 * row), the container's CPU work per embedded user split into its active and whole-partition parts,
 * the lane's memory per user (scaled from the demo model's snapshots to the paper size), the day's
 * event bytes and the partition stage's speed.
 */
export function figuresOf(
  report: ScaleSource,
  eventBytesPerEvent: number,
  writeSkipShare: number | undefined,
): ScaleResult['figures'] | undefined {
  const p = report.projection;
  const row = p?.rows.find((r) => r.precision === 'fp16');
  const split = embedSplit(report);
  const allUsers = split && allUsersWorkOf(split, report.activeCost);
  const size = [...report.daily].filter((d) => d.model === 'shipped').sort((a, b) => b.users - a.users);
  const large = size[0];
  const small = size[size.length - 1];
  const day = large?.runs.find((r) => r.role === 'steady');
  const smallDay = small?.runs.find((r) => r.role === 'steady');
  if (!p || !row || !split || !allUsers || !large || !small || !day || !smallDay) return undefined;
  const a = p.assumptions as unknown as {
    cpuSecondsPerUser: number;
    snapshotBytesPerUser: number;
    writeUnitsPerUser: number;
  };
  const demoSnapshotBytesPerUser = (day.snapshotBytes.embeddings + day.snapshotBytes.sequences) / large.users;
  // the local runner holds 2 of its 8 partitions at once (2 workers); the growth from the small to the large day
  const heldUsers = ((large.users - small.users) * 2) / 8;
  const demoMemoryPerUser =
    large === small ? 8_000 : ((day.peakRssMiB - smallDay.peakRssMiB) * 2 ** 20) / Math.max(1, heldUsers);
  const memoryBytesPerUser = demoMemoryPerUser * (a.snapshotBytesPerUser / demoSnapshotBytesPerUser);
  const eventsPerActiveUser = day.events / Math.max(1, day.activeUsers);
  const eventBytes = day.events * eventBytesPerEvent;
  // 2 local workers ran the partition stage: its wall time × 2 is the CPU time of one Lambda's worth
  const partitionSecondsPerByte = ((day.secondsByStage.partition ?? 0) * 2) / Math.max(1, eventBytes);
  const wholePerEmbedded = split.wholePartitionSecondsPerUser * (large.users / Math.max(1, day.embeddedUsers));
  return {
    embeddedShare: 0.3,
    gpuSecondsPerUser: (row.gpuBoundHoursPerDay * 3600) / row.dailyActiveUsers,
    cpuSecondsPerEmbeddedUser: Math.max(a.cpuSecondsPerUser - wholePerEmbedded, a.cpuSecondsPerUser / 2),
    cpuSecondsPerPartitionUser: allUsers.secondsPerUser,
    memoryBytesPerUser: round(memoryBytesPerUser),
    eventBytesPerUser: eventsPerActiveUser * eventBytesPerEvent,
    partitionSecondsPerByte,
    writeUnitsPerUser: a.writeUnitsPerUser,
    ...(writeSkipShare === undefined ? {} : { writeSkipShare }),
    eventBytesPerEvent: round(eventBytesPerEvent),
    eventsPerActiveUser: round(eventsPerActiveUser),
  };
}

export function costOf(plan: SizingPlan, figures: UserFigures): ScaleRow['usdPerDay'] {
  const partitionLambda = plan.slices * plan.sliceSeconds * PARTITION_LAMBDA_GB * SCALE_PRICES.lambdaPerGbSecond;
  const stepFunctions =
    ((plan.slices * TRANSITIONS_PER_SLICE + 20) / 1000) * SCALE_PRICES.stepFunctionsPerThousandTransitions;
  const s3Puts = ((plan.workFiles + 2 * plan.partitions) / 1000) * PRICES.s3PutPer1000;
  // every container runs the whole embed stage (the binding resource paces them all)
  const gpu = (plan.containers * plan.seconds.embedStage * SCALE_PRICES.g5_4xlargePerHour) / 3600;
  const dynamoWrites = ((plan.writtenUsers * figures.writeUnitsPerUser) / 1e6) * PRICES.dynamoWritePerMillionWru;
  const total = partitionLambda + stepFunctions + s3Puts + gpu + dynamoWrites;
  return {
    partitionLambda: round(partitionLambda),
    stepFunctions: round(stepFunctions),
    s3Puts: round(s3Puts),
    gpu: round(gpu),
    dynamoWrites: round(dynamoWrites),
    total: round(total),
  };
}

/** The plans and their cost for every size and active share. */
export function simulateScale(
  figures: ScaleResult['figures'],
  from: string,
  split?: EmbedSplit,
  allUsers?: AllUsersWork,
): ScaleResult {
  const rows: ScaleRow[] = [];
  for (const totalUsers of [10e6, 100e6, 1e9]) {
    for (const activeShare of [0.1, 0.3]) {
      const f = { ...figures, embeddedShare: activeShare };
      const plan = sizeDailyRun({ totalUsers, figures: f });
      rows.push({ totalUsers, activeShare, plan, usdPerDay: costOf(plan, f) });
    }
  }
  return { figures, from, ...(split ? { split } : {}), ...(allUsers ? { allUsers } : {}), rows };
}

/**
 * Section 7 for a report: its own figures where it has sections 2 and 3, else those of the
 * committed reports/bench.json (a run of only the new sections). `earlier` reuses a stored
 * event-bytes measurement (re-rendering).
 */
export async function scaleSection(
  report: ScaleSource & { readonly writePolicy?: WritePolicyResult },
  options: {
    readonly workDir: string;
    readonly earlier?: ScaleResult;
    readonly fallback?: string;
    /** Where the report's own figures come from; default this run. */
    readonly label?: string;
  },
): Promise<ScaleResult | undefined> {
  const eventBytes = options.earlier?.figures.eventBytesPerEvent ?? (await measureEventBytes(options.workDir));
  const skip = writeSkipShareOf(report.writePolicy);
  let source: ScaleSource = report;
  let from = `${options.label ?? 'this run'}, sections 2 and 3`;
  if (figuresOf(report, eventBytes, skip) === undefined) {
    const path = options.fallback ?? 'reports/bench.json';
    if (!existsSync(path)) return undefined;
    const stored = JSON.parse(readFileSync(path, 'utf8')) as ScaleSource & { readonly createdAt: string };
    // this run's section 8, where it has one, over the stored one
    source = report.activeCost === undefined ? stored : { ...stored, activeCost: report.activeCost };
    from = `${path} of ${stored.createdAt}, sections 2 and 3`;
  }
  const figures = figuresOf(source, eventBytes, skip);
  const split = embedSplit(source);
  return figures && simulateScale(figures, from, split, split && allUsersWorkOf(split, source.activeCost));
}
