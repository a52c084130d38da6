/**
 * Section 6: "write only what changed". Two measurements side by side in one run:
 *   quality  training/pinnerformer/write_policy.py: per objective, the day-over-day cosine of the
 *            active users' new and stored embeddings, and per threshold the writes saved and
 *            Recall@10 of the served embeddings against writing every user (paired difference);
 *   pipeline the daily run itself (local runner, dynalite) over the same synthetic days with and
 *            without the policy at the chosen threshold: items and write units actually written.
 */
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { runDaily } from '../src/pipeline/local-runner.ts';
import { DEFAULT_SKIP_COSINE } from '../src/pipeline/write-policy.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { progress } from './progress.ts';
import { runPythonJson } from './python.ts';
import { round } from './stats.ts';

export interface PolicyRow {
  readonly threshold: number;
  readonly writes_per_day: number;
  readonly saved_share: number;
  readonly recall_at_10: number;
  readonly recall_delta: number;
  readonly recall_delta_stderr: number;
}

export interface ObjectiveStability {
  readonly train_seconds: number;
  readonly reembeddings: number;
  readonly cosine_percentiles: Readonly<Record<string, number>>;
  readonly cosine_mean: number | null;
  readonly share_at_least: Readonly<Record<string, number>>;
  readonly write_all: {
    readonly writes_per_day: number;
    readonly recall_at_10: number;
    readonly recall_stderr: number;
  };
  readonly policy: readonly PolicyRow[];
  readonly default_threshold: number | null;
}

export interface StabilityResult {
  readonly data: Readonly<Record<string, unknown>>;
  /** Training steps per objective and when the replay ran (absent in older results). */
  readonly steps?: number;
  readonly measured_at?: string;
  readonly refresh_age_days: number;
  readonly thresholds: readonly number[];
  readonly objectives: Readonly<Record<string, ObjectiveStability>>;
}

export interface PipelineDay {
  readonly date: string;
  readonly embeddedUsers: number;
  readonly writtenAll: number;
  readonly writtenPolicy: number;
  readonly kept: number;
}

export interface WritePolicyResult {
  /** When this section ran (it may be folded into an earlier report with --render). */
  readonly measuredAt: string;
  readonly stability?: StabilityResult;
  /** The same replay on an imported public-format fixture, ids only (IMPORTED_STABILITY), when one is stored. */
  readonly imported?: StabilityResult;
  /** The threshold the pipeline measurement used (the product default). */
  readonly threshold: number;
  readonly pipeline?: {
    readonly users: number;
    readonly modelVersion: string;
    /** Steady days (after the first), each run twice: every user written, and with the policy. */
    readonly days: readonly PipelineDay[];
    /** Share of the steady days' items (write units: one per 256-d fp16 item) the policy did not write. */
    readonly savedShare: number;
  };
}

/**
 * Where the replay on an imported public-format fixture is kept: it needs the fixture built and
 * imported first, so it runs apart (docs/versioning.md, "Write policy") and the report folds it in.
 */
export const IMPORTED_STABILITY = 'reports/write-policy-imported.json';

/** The stored replay on an imported fixture, or undefined when there is none. */
export function readImportedStability(path = IMPORTED_STABILITY): StabilityResult | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as StabilityResult) : undefined;
}

/**
 * The quality side (PyTorch; minutes on 2 cores: two small models trained). BENCH_STABILITY_JSON
 * names a replay's output (`python -m pinnerformer.write_policy --out FILE`) to reuse instead.
 */
export async function measureStability(steps: number): Promise<StabilityResult> {
  const reuse = process.env.BENCH_STABILITY_JSON;
  if (reuse) {
    progress(`write policy: the stability replay from ${reuse}`);
    return JSON.parse(readFileSync(reuse, 'utf8')) as StabilityResult;
  }
  progress(`write policy: training dense all action and next action (${steps} steps) and replaying 14 days`);
  return runPythonJson<StabilityResult>('-m', ['pinnerformer.write_policy', '--steps', String(steps)]);
}

/** The pipeline side: the same days through the local runner, with every write and with the policy. */
export async function measurePipelineSaving(options: {
  readonly workDir: string;
  readonly modelDir: string;
  readonly users: number;
  readonly days: number;
  readonly threshold: number;
}): Promise<NonNullable<WritePolicyResult['pipeline']>> {
  const start = '2026-03-01';
  const root = join(options.workDir, `write-policy-${options.users}`);
  rmSync(root, { recursive: true, force: true });
  const events = join(root, 'events-source');
  await generateDataset({ users: options.users, days: options.days, seed: 7, start, out: events });
  const series = async (label: string, writeSkipCosine: number | undefined) => {
    const dataDir = join(root, label);
    cpSync(events, dataDir, { recursive: true });
    const local = await openLocalEmbeddings({ dataDir });
    try {
      const out = [];
      for (let d = 0; d < options.days; d++) {
        const date = new Date(Date.parse(`${start}T00:00:00Z`) + d * 86_400_000).toISOString().slice(0, 10);
        const s = await runDaily({
          dataDir,
          date,
          modelDir: options.modelDir,
          embeddings: local,
          ...(writeSkipCosine === undefined ? {} : { writeSkipCosine }),
        });
        if (!s.published)
          throw new Error(`write policy bench: ${label} ${date} not published: ${s.reasons.join('; ')}`);
        out.push({
          date,
          modelVersion: s.modelVersion,
          embedded: s.embeddedUsers,
          written: s.writeStats.items,
          kept: s.writeStats.kept ?? 0,
        });
        progress(`write policy ${label} ${date}: ${s.embeddedUsers} embedded, ${s.writeStats.items} written`);
      }
      return out;
    } finally {
      await local.close();
    }
  };
  const all = await series('write-all', undefined);
  const policy = await series('policy', options.threshold);
  const days = all.slice(1).map((a, i) => {
    const p = policy[i + 1]!;
    return { date: a.date, embeddedUsers: a.embedded, writtenAll: a.written, writtenPolicy: p.written, kept: p.kept };
  });
  const writtenAll = days.reduce((n, d) => n + d.writtenAll, 0);
  const writtenPolicy = days.reduce((n, d) => n + d.writtenPolicy, 0);
  return {
    users: options.users,
    modelVersion: all[0]!.modelVersion,
    days,
    savedShare: round(1 - writtenPolicy / Math.max(1, writtenAll)),
  };
}

/**
 * The saving the cost projection assumes: the quality replay's at the default threshold (14 days,
 * refreshes included, its Recall@10 checked), else the daily run's (fewer days than the refresh age,
 * so it overstates the steady saving).
 */
export function writeSkipShareOf(result: WritePolicyResult | undefined): number | undefined {
  if (!result) return undefined;
  const row = result.stability?.objectives.dense_all_action?.policy.find((r) => r.threshold === result.threshold);
  return row?.saved_share ?? result.pipeline?.savedShare;
}

/** Both sides, each recorded even when the other fails; the pipeline runs at the product default. */
export async function benchWritePolicy(options: {
  readonly workDir: string;
  readonly modelDir: string;
  readonly users: number;
  readonly days: number;
  readonly steps: number;
  readonly onError: (what: string, error: unknown) => void;
}): Promise<WritePolicyResult> {
  const threshold = DEFAULT_SKIP_COSINE;
  let stability: StabilityResult | undefined;
  let pipeline: WritePolicyResult['pipeline'];
  try {
    stability = await measureStability(options.steps);
  } catch (error) {
    options.onError('write policy (quality replay)', error);
  }
  try {
    pipeline = await measurePipelineSaving({ ...options, threshold });
  } catch (error) {
    options.onError('write policy (pipeline)', error);
  }
  const imported = readImportedStability();
  return {
    measuredAt: new Date().toISOString(),
    threshold,
    ...(stability ? { stability } : {}),
    ...(imported ? { imported } : {}),
    ...(pipeline ? { pipeline } : {}),
  };
}
