/**
 * Section 8: cost that follows active users. With the users fixed, the same steady day runs with
 * a share of them active (1:1 down to 10:1 all-to-active), side by side in two modes: a full
 * snapshot every day (compactEveryDays 1, the design before deltas) and a delta of the changed
 * users (the default). Measured per day, the median of `reps` interleaved repetitions: the embed
 * stage's seconds per phase (read, merge, embed, write, snapshot) and the state bytes it writes;
 * the scaling exponent in active users of each, and the per-active-user cost of a 10:1 day against
 * a 1:1 day, amortised with compaction: staggered over the partitions, 1/COMPACT_EVERY of them
 * write a full snapshot on any day, so every day costs (K − 1)/K of a delta day plus 1/K of a full one.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeEvents } from '../src/events/write-events.ts';
import { decodeParquet } from '../src/io/parquet.ts';
import { openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { runDaily } from '../src/pipeline/local-runner.ts';
import { readRunManifest } from '../src/pipeline/plan.ts';
import { COMPACTION_DEFAULTS, writtenKeys } from '../src/pipeline/state-chain.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { progress } from './progress.ts';
import { median, round } from './stats.ts';

const START = '2026-05-01';
const BOOTSTRAP = '2026-05-02';
const DAY = '2026-05-03';
const COMPACT_EVERY = COMPACTION_DEFAULTS.everyDays;
/** Events each active user adds on the measured day. */
const EVENTS_PER_ACTIVE_USER = 4;

/** The embed stage's phases: embed = featurize + infer (+ waiting for an inference thread). */
export const PHASES = ['read', 'merge', 'embed', 'write', 'snapshot'] as const;
export type Phase = (typeof PHASES)[number];

export interface ActiveCostRow {
  readonly activeShare: number;
  readonly activeUsers: number;
  readonly mode: 'full' | 'delta';
  /** The embed stage's steps summed over partitions (PartitionResult.secondsByStep), median of the reps. */
  readonly embedSeconds: number;
  /** Fastest and slowest rep of embedSeconds. */
  readonly embedSecondsRange?: readonly [number, number];
  readonly stateBytes: number;
  readonly embeddedUsers: number;
  /** Seconds per phase, summed over partitions, each the median of the reps. */
  readonly phases?: Readonly<Record<Phase, number>>;
  /** The steps of an older result (best rep), kept for re-judging stored results. */
  readonly steps?: Readonly<Record<string, number>>;
}

/** A run's secondsByStep as phases. */
export function phasesOf(steps: Readonly<Record<string, number>>): Record<Phase, number> {
  const at = (k: string) => steps[k] ?? 0;
  return {
    read: at('read'),
    merge: at('merge'),
    embed: at('featurize') + at('infer') + at('wait'),
    write: at('write'),
    snapshot: at('snapshot'),
  };
}

export interface ActiveCostResult {
  readonly measuredAt: string;
  readonly users: number;
  readonly partitions: number;
  readonly reps: number;
  readonly compactEveryDays: number;
  readonly rows: readonly ActiveCostRow[];
  /** Least-squares slope of log(cost) on log(active users), per mode and measure. */
  readonly exponents: Readonly<Record<'full' | 'delta', { readonly seconds: number; readonly bytes: number }>>;
  /** The same slope for each phase's seconds, per mode (absent in older results). */
  readonly phaseExponents?: Readonly<Record<'full' | 'delta', Readonly<Record<Phase, number>>>>;
  /** Share of the 10:1 delta day's seconds spent reading the previous state (absent in older results). */
  readonly readShareAtTenth?: number;
  /**
   * Cost per active user of the 10:1 day over the 1:1 day: `full` every day a full snapshot,
   * `delta` a delta day, `amortised` deltas with one full day in COMPACT_EVERY.
   */
  readonly perActiveRatio: Readonly<
    Record<'full' | 'delta' | 'amortised', { readonly seconds: number; readonly bytes: number }>
  >;
}

function slope(xs: readonly number[], ys: readonly number[]): number {
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
  const my = ly.reduce((a, b) => a + b, 0) / ly.length;
  let num = 0;
  let den = 0;
  lx.forEach((x, i) => {
    num += (x - mx) * (ly[i]! - my);
    den += (x - mx) ** 2;
  });
  return den === 0 ? 0 : num / den;
}

/** Users and items of the generated days, for the measured day's events. */
async function corpus(dir: string): Promise<{ users: string[]; items: string[] }> {
  const users = new Set<string>();
  const items = new Set<string>();
  for (const day of readdirSync(join(dir, 'events'))) {
    for (const file of readdirSync(join(dir, 'events', day)).filter((f) => f.endsWith('.parquet'))) {
      const table = await decodeParquet(new Uint8Array(readFileSync(join(dir, 'events', day, file))), {
        columns: ['user_id', 'item_id'],
      });
      for (const u of table.columns.user_id ?? []) users.add(u as string);
      for (const i of table.columns.item_id ?? []) items.add(i as string);
    }
  }
  return { users: [...users].sort(), items: [...items].sort() };
}

/** The measured day: EVENTS_PER_ACTIVE_USER saves for each of the first `active` users (a fixed shuffle). */
function writeDay(dir: string, users: readonly string[], items: readonly string[], active: number): void {
  const dayDir = join(dir, 'events', `dt=${DAY}`);
  rmSync(dayDir, { recursive: true, force: true });
  mkdirSync(dayDir, { recursive: true });
  const t0 = Date.parse(`${DAY}T08:00:00Z`);
  const events = users.slice(0, active).flatMap((userId, u) =>
    Array.from({ length: EVENTS_PER_ACTIVE_USER }, (_, k) => ({
      userId,
      itemId: items[(u * 7919 + k * 104_729) % items.length]!,
      action: 'save' as const,
      surface: 'home',
      durationMs: 1000,
      ts: t0 + u * 10 + k,
    })),
  );
  writeFileSync(join(dayDir, 'part-0.parquet'), encodeEvents(events));
}

async function stateBytes(dir: string, modelVersion: string, date: string): Promise<number> {
  const run = await readRunManifest({ objects: new LocalObjectStore(dir) }, modelVersion, date);
  let bytes = 0;
  for (let p = 0; p < run.partitions; p++) {
    const keys = writtenKeys(run, p);
    bytes += statSync(join(dir, keys.sequences)).size + statSync(join(dir, keys.embeddings)).size;
  }
  return bytes;
}

export async function benchActiveCost(options: {
  readonly workDir: string;
  readonly modelDir: string;
  readonly users: number;
  readonly shares?: readonly number[];
  readonly reps?: number;
  readonly partitions?: number;
}): Promise<ActiveCostResult> {
  const shares = options.shares ?? [1, 0.3, 0.1];
  const reps = options.reps ?? 3;
  const partitions = options.partitions ?? 4;
  const root = join(options.workDir, `active-cost-${options.users}`);
  const template = join(root, 'template');
  rmSync(root, { recursive: true, force: true });
  progress(`active-user cost: ${options.users} users, bootstrap day ${BOOTSTRAP}`);
  await generateDataset({ out: template, users: options.users, days: 2, start: START, seed: 11 });
  const { users, items } = await corpus(template);
  // a fixed shuffle, so that the active users spread over every partition
  const shuffled = [...users].sort((a, b) => (hash(a) < hash(b) ? -1 : 1));
  const base = await openLocalEmbeddings({ dataDir: template });
  const boot = await runDaily({
    dataDir: template,
    date: BOOTSTRAP,
    modelDir: options.modelDir,
    partitions,
    embeddings: base,
  });
  await base.close();
  if (!boot.published) throw new Error(`active-user cost: the bootstrap day was refused: ${boot.reasons.join('; ')}`);

  const samples = new Map<
    string,
    { seconds: number[]; steps: Record<Phase, number>[]; bytes: number; embedded: number; active: number }
  >();
  for (let rep = 0; rep < reps; rep++) {
    for (const share of shares) {
      const active = Math.max(1, Math.round(share * shuffled.length));
      for (const mode of ['full', 'delta'] as const) {
        const dir = join(root, `${mode}-${share}`);
        rmSync(dir, { recursive: true, force: true });
        cpSync(template, dir, { recursive: true });
        writeDay(dir, shuffled, items, active);
        const local = await openLocalEmbeddings({ dataDir: dir });
        const summary = await runDaily({
          dataDir: dir,
          date: DAY,
          modelDir: options.modelDir,
          partitions,
          embeddings: local,
          compactEveryDays: mode === 'full' ? 1 : COMPACT_EVERY,
        });
        await local.close();
        if (!summary.published)
          throw new Error(`active-user cost: ${mode} at ${share} refused: ${summary.reasons.join('; ')}`);
        const key = `${mode}|${share}`;
        const s = samples.get(key) ?? { seconds: [], steps: [], bytes: 0, embedded: 0, active };
        s.steps.push(phasesOf(summary.secondsByStep));
        // the partitions' own work (read, merge, featurize, infer, write, snapshot), without the
        // workers' start-up and model load, which do not depend on the users
        s.seconds.push(Object.values(summary.secondsByStep).reduce((a, b) => a + b, 0));
        s.bytes = await stateBytes(dir, boot.modelVersion, DAY);
        s.embedded = summary.embeddedUsers;
        samples.set(key, s);
        progress(
          `active-user cost: rep ${rep + 1}/${reps}, ${mode} day, ${active} of ${shuffled.length} active: embed ${round(s.seconds.at(-1)!)} s ${JSON.stringify(s.steps.at(-1))}, ${s.bytes} B written`,
        );
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  rmSync(root, { recursive: true, force: true });
  const rows: ActiveCostRow[] = [...samples].map(([key, s]) => {
    const [mode, share] = key.split('|') as ['full' | 'delta', string];
    return {
      activeShare: Number(share),
      activeUsers: s.active,
      mode,
      embedSeconds: round(median(s.seconds)),
      embedSecondsRange: [round(Math.min(...s.seconds)), round(Math.max(...s.seconds))] as const,
      phases: Object.fromEntries(PHASES.map((k) => [k, round(median(s.steps.map((x) => x[k])))])) as Record<
        Phase,
        number
      >,
      stateBytes: s.bytes,
      embeddedUsers: s.embedded,
    };
  });
  return summarize(rows, { users: shuffled.length, partitions, reps });
}

/** Exponents and per-active-user ratios of measured rows (also used to re-judge a stored result). */
export function summarize(
  rows: readonly ActiveCostRow[],
  settings: { users: number; partitions: number; reps: number },
): ActiveCostResult {
  const of = (mode: 'full' | 'delta') =>
    rows.filter((r) => r.mode === mode).sort((a, b) => b.activeShare - a.activeShare);
  const exponent = (mode: 'full' | 'delta') => {
    const r = of(mode);
    const active = r.map((x) => x.activeUsers);
    return {
      seconds: round(
        slope(
          active,
          r.map((x) => x.embedSeconds),
        ),
      ),
      bytes: round(
        slope(
          active,
          r.map((x) => x.stateBytes),
        ),
      ),
    };
  };
  const ends = (mode: 'full' | 'delta') => {
    const r = of(mode);
    return { one: r[0]!, ten: r.at(-1)! };
  };
  const full = ends('full');
  const delta = ends('delta');
  /** cost per active user at 10:1 over 1:1, from the two days' cost */
  const ratio = (ten: number, one: number) => round(ten / delta.ten.activeUsers / (one / delta.one.activeUsers));
  const amortised = (d: ActiveCostRow, f: ActiveCostRow, pick: (r: ActiveCostRow) => number) =>
    ((COMPACT_EVERY - 1) * pick(d) + pick(f)) / COMPACT_EVERY;
  const seconds = (r: ActiveCostRow) => r.embedSeconds;
  const bytes = (r: ActiveCostRow) => r.stateBytes;
  const withPhases = rows.every((r) => r.phases !== undefined);
  const phaseExponent = (mode: 'full' | 'delta') => {
    const r = of(mode);
    const active = r.map((x) => x.activeUsers);
    // a phase that took no time at all has no exponent to fit: 0
    return Object.fromEntries(
      PHASES.map((k) => {
        const ys = r.map((x) => x.phases![k]);
        return [k, ys.every((y) => y > 0) ? round(slope(active, ys)) : 0];
      }),
    ) as Record<Phase, number>;
  };
  return {
    measuredAt: new Date().toISOString(),
    ...settings,
    compactEveryDays: COMPACT_EVERY,
    rows,
    exponents: { full: exponent('full'), delta: exponent('delta') },
    ...(withPhases
      ? {
          phaseExponents: { full: phaseExponent('full'), delta: phaseExponent('delta') },
          readShareAtTenth: round(delta.ten.phases!.read / delta.ten.embedSeconds),
        }
      : {}),
    perActiveRatio: {
      full: {
        seconds: ratio(full.ten.embedSeconds, full.one.embedSeconds),
        bytes: ratio(full.ten.stateBytes, full.one.stateBytes),
      },
      delta: {
        seconds: ratio(delta.ten.embedSeconds, delta.one.embedSeconds),
        bytes: ratio(delta.ten.stateBytes, delta.one.stateBytes),
      },
      amortised: {
        seconds: ratio(amortised(delta.ten, full.ten, seconds), amortised(delta.one, full.one, seconds)),
        bytes: ratio(amortised(delta.ten, full.ten, bytes), amortised(delta.one, full.one, bytes)),
      },
    },
  };
}

/** A cheap stable hash for the shuffle (FNV-1a). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
