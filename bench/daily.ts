/**
 * Section 2: the daily run end to end on synthetic days. For each size, `days` days of events are
 * generated (cached), day `days-1` bootstraps the sequence snapshot (every user with history is
 * embedded) and day `days` is the measured steady-state day (~30% of users active). Each step runs
 * in its own process (bench/daily-child.ts) for a clean peak-memory figure.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { buildBundles } from '../bin/build.ts';
import type { SequenceEvent } from '../src/features/sequence.ts';
import { layout } from '../src/pipeline/layout.ts';
import { decodeSequenceSnapshot } from '../src/pipeline/snapshots.ts';
import type { DailySummary } from '../src/pipeline/types.ts';
import type { GenerateSummary } from '../src/synth/generate.ts';
import { progress } from './progress.ts';
import { round } from './stats.ts';

export interface ChildOutput<T> {
  readonly result: T;
  /** When each stage of a daily run ended, on the clock of --cpu-prof's samples (µs). */
  readonly stageEndMicros?: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly processSeconds: number;
  readonly maxRssBytes: number;
  readonly cpuSeconds: number;
}

const CHILD_SOURCE = 'bench/daily-child.ts';
let childBundle: string | undefined;

/**
 * Bundles bench/daily-child.ts and the worker threads it starts (bin/build.ts), as `make build`
 * bundles the demo and the Batch container's worker: the measured runs then start, and start
 * their threads, as those do, without tsx. Into the repository's .pinnerformer (gitignored), where
 * the bundle's external packages resolve from node_modules.
 */
export async function bundleChild(): Promise<void> {
  const outDir = join(import.meta.dirname, '..', '.pinnerformer', 'bench-bundle');
  childBundle = (await buildBundles({ outDir, entries: { 'daily-child': CHILD_SOURCE } }))['daily-child'];
}

/**
 * Runs bench/daily-child.ts: bundled once bundleChild() has run, else (or with `sources`) from the
 * sources through tsx, whose functions a CPU profile can name by source file. `nodeArgs` go to
 * node (e.g. --cpu-prof), `env` over the parent's.
 */
export function runChild<T>(
  args: readonly string[],
  tag: string,
  extra: {
    readonly nodeArgs?: readonly string[];
    readonly env?: Readonly<Record<string, string>>;
    readonly sources?: boolean;
  } = {},
): Promise<ChildOutput<T>> {
  const entry = childBundle && !extra.sources ? [childBundle] : ['--import', 'tsx', CHILD_SOURCE];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...(extra.nodeArgs ?? []), ...entry, ...args], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...extra.env },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    let lastShown = performance.now();
    const started = lastShown;
    createInterface({ input: child.stderr }).on('line', (line) => {
      // every line of a failure, but only a few progress lines a second
      if (/error|fail|refused/i.test(line) || performance.now() - lastShown > 3000) {
        lastShown = performance.now();
        progress(`${tag}: ${line}`);
      }
    });
    // A 1M-user embed stage logs once per partition (a minute or more apart): say it is alive.
    const heartbeat = setInterval(() => {
      if (performance.now() - lastShown < 30_000) return;
      lastShown = performance.now();
      progress(`${tag}: still running (${((lastShown - started) / 1000).toFixed(0)}s)`);
    }, 5_000);
    child.on('error', (error) => {
      clearInterval(heartbeat);
      reject(error);
    });
    child.on('close', (code) => {
      clearInterval(heartbeat);
      if (code !== 0) return reject(new Error(`${tag} exited with ${code}`));
      resolvePromise(JSON.parse(stdout.trim().split('\n').pop()!) as ChildOutput<T>);
    });
  });
}

function dayString(start: string, offset: number): string {
  return new Date(Date.parse(`${start}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);
}

function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

export interface DailyRunFigures {
  readonly date: string;
  readonly role: 'bootstrap' | 'steady';
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
  readonly events: number;
  readonly activeUsers: number;
  readonly embeddedUsers: number;
  readonly published: boolean;
  readonly secondsByStage: Readonly<Record<string, number>>;
  /** Embed-stage split summed over partitions (worker seconds). */
  readonly secondsByStep: Readonly<Record<string, number>>;
  /** infer / (read + merge + featurize + infer + write + snapshot): the inference thread's share of its wall time. */
  readonly inferShare: number;
  /** Inference's share of the embed stage's process CPU (DailySummary.inference.cpuShare), where measured. */
  readonly inferCpuShare?: number;
  /** Embedded users per second of the embed stage, and of the whole run. */
  readonly embedUsersPerSec: number;
  readonly totalUsersPerSec: number;
  readonly writeStats: DailySummary['writeStats'];
  /** Bytes of the day's snapshots in the object store (S3 in AWS). */
  readonly snapshotBytes: { readonly embeddings: number; readonly sequences: number };
}

export interface DailySizeResult {
  /** Which model ran: 'shipped' (the demo model) or the label of another model directory (e.g. the paper-size one). */
  readonly model: string;
  readonly modelVersion: string;
  readonly users: number;
  readonly days: number;
  readonly generateSeconds: number;
  readonly generatedEvents: number;
  readonly runs: readonly DailyRunFigures[];
}

export interface DailyOptions {
  readonly workDir: string;
  readonly modelDir: string;
  /** Label of the model in the report; default 'shipped'. */
  readonly modelLabel?: string;
  readonly users: number;
  readonly days: number;
  readonly seed: number;
  readonly workers?: number;
  readonly threads?: number;
}

const START = '2026-01-01';

export async function benchDailySize(options: DailyOptions): Promise<DailySizeResult> {
  const dataDir = resolve(options.workDir, `daily-${options.users}`);
  const objects = dataDir;
  const marker = join(dataDir, 'generated.json');
  const spec = JSON.stringify({ users: options.users, days: options.days, seed: options.seed, start: START });
  let generated: ChildOutput<GenerateSummary>;
  if (existsSync(marker) && JSON.parse(readFileSync(marker, 'utf8')).spec === spec) {
    generated = JSON.parse(readFileSync(marker, 'utf8')).output;
    progress(`daily ${options.users}: reusing the generated events in ${dataDir}`);
  } else {
    rmSync(dataDir, { recursive: true, force: true });
    progress(`daily ${options.users}: generating ${options.days} days of events`);
    generated = await runChild<GenerateSummary>(
      ['generate', objects, String(options.users), String(options.days), String(options.seed)],
      `generate ${options.users}`,
    );
    writeFileSync(marker, JSON.stringify({ spec, output: generated }));
  }
  // Fresh run state over the same events: table, snapshots, runs, work files, deployed models.
  rmSync(join(dataDir, 'dynamodb'), { recursive: true, force: true });
  for (const name of ['runs', 'work', 'sequences', 'embeddings', 'models']) {
    rmSync(join(objects, name), { recursive: true, force: true });
  }
  const runs: DailyRunFigures[] = [];
  let modelVersion: string | undefined;
  for (const [role, offset] of [
    ['bootstrap', options.days - 2],
    ['steady', options.days - 1],
  ] as const) {
    const date = dayString(START, offset);
    progress(`daily ${options.users}: ${role} run for ${date} (${options.modelLabel ?? 'shipped'} model)`);
    const out = await runChild<DailySummary>(
      [
        'daily',
        dataDir,
        date,
        resolve(options.modelDir),
        options.workers ? String(options.workers) : '',
        options.threads ? String(options.threads) : '',
      ],
      `daily ${options.users} ${date}`,
    );
    const s = out.result;
    modelVersion = s.modelVersion;
    const steps = s.secondsByStep;
    const stepTotal = Object.values(steps).reduce((a, b) => a + b, 0);
    const embedSeconds = s.secondsByStage.embed ?? Number.NaN;
    runs.push({
      date,
      role,
      wallSeconds: round(s.secondsByStage.total ?? out.seconds),
      cpuSeconds: round(out.cpuSeconds),
      peakRssMiB: round(out.maxRssBytes / 2 ** 20),
      events: s.events,
      activeUsers: s.activeUsers,
      embeddedUsers: s.embeddedUsers,
      published: s.published,
      secondsByStage: Object.fromEntries(Object.entries(s.secondsByStage).map(([k, v]) => [k, round(v)])),
      secondsByStep: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(v)])),
      inferShare: round((steps.infer ?? 0) / stepTotal),
      ...(s.inference?.cpuShare === undefined ? {} : { inferCpuShare: round(s.inference.cpuShare) }),
      embedUsersPerSec: round(s.embeddedUsers / embedSeconds),
      totalUsersPerSec: round(s.embeddedUsers / (s.secondsByStage.total ?? out.seconds)),
      writeStats: s.writeStats,
      snapshotBytes: {
        embeddings: dirBytes(join(objects, 'embeddings', `model=${s.modelVersion}`, `dt=${date}`)),
        sequences: dirBytes(join(objects, 'sequences', s.modelVersion, `dt=${date}`)),
      },
    });
    const r = runs[runs.length - 1]!;
    progress(
      `daily ${options.users} ${date}: ${r.embeddedUsers} embedded (${r.activeUsers} active) in ${r.wallSeconds}s, ` +
        `infer ${(100 * r.inferShare).toFixed(0)}% of embed (${r.inferCpuShare === undefined ? '-' : (100 * r.inferCpuShare).toFixed(0)}% of its CPU), peak ${r.peakRssMiB} MiB, published ${r.published}`,
    );
  }
  return {
    model: options.modelLabel ?? 'shipped',
    modelVersion: modelVersion ?? '',
    users: options.users,
    days: options.days,
    generateSeconds: round(generated.seconds),
    generatedEvents: generated.result.events,
    runs,
  };
}

/** The sequences a steady-state run embedded (for the padding benchmark): real, heavy-tailed lengths. */
export async function embeddedSequences(
  workDir: string,
  users: number,
  modelVersion: string,
  date: string,
  limit: number,
): Promise<{ userId: string; events: SequenceEvent[] }[]> {
  const objects = resolve(workDir, `daily-${users}`);
  const out: { userId: string; events: SequenceEvent[] }[] = [];
  for (let p = 0; out.length < limit; p++) {
    // a full snapshot, or on a delta day the changed users (every user embedded on the day among them)
    const full = layout.sequences(modelVersion, date, p);
    const key = existsSync(join(objects, full)) ? full : layout.sequenceDelta(modelVersion, date, p);
    const path = join(objects, key);
    if (!existsSync(path)) break;
    for (const user of await decodeSequenceSnapshot(new Uint8Array(readFileSync(path)), key)) {
      if (user.lastEmbedded === date && out.length < limit) out.push({ userId: user.userId, events: [...user.events] });
    }
  }
  return out;
}
