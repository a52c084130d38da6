/**
 * Fault 1, "crash anywhere" (docs/reliability.md). The daily run is the real CLI in a child
 * process; it is SIGKILLed at seeded random points of its own write trace (crash points, see
 * src/testing/crash-points.ts) and at random times (the harness's own SIGKILL). Each chain of
 * crashes ends with a plain rerun whose table, snapshots and pointer must equal a clean run's.
 * Between crashes the readers' view must still be the previous day's.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalEmbeddings } from '../../src/local/local-embeddings.ts';
import { handleLookup } from '../../src/lookup/handler.ts';
import { generateDataset } from '../../src/synth/generate.ts';
import { Rng } from '../../src/synth/rng.ts';
import { type CliRun, type DataDirState, dataDirState, runCli } from '../../src/testing/crash-harness.ts';
import { TrialLog } from '../../src/testing/reliability-report.ts';
import { dailyArgs } from './daily-cli.ts';

const DAY1 = '2026-10-01';
const DAY2 = '2026-10-02';
const CHAINS = 3;
const HOOK_TRIALS_PER_CHAIN = 6;
const TIMED_TRIALS = 4;

type Stage = 'deploy' | 'plan' | 'partition' | 'embed' | 'publish';
const STAGE_ORDER: readonly Stage[] = ['plan', 'partition', 'embed', 'publish'];

interface CrashPoint {
  readonly name: string;
  /** Occurrence of `name` in the clean run's trace (its thread counts it the same way). */
  readonly hit: number;
  readonly stage: Stage;
  /** Index in the clean trace: the order of points within one run. */
  readonly order: number;
}

function stageOf(name: string): Stage {
  if (name.includes(':models/')) return 'deploy';
  if (name.startsWith('dynamo:lock') || /runs\/[^/]+\/dt=[^/]+\/manifest\.json$/.test(name)) return 'plan';
  if (name.includes(':work/') || name.includes('/slices/')) return 'partition';
  if (
    name === 'dynamo:batch-write' ||
    name.includes(':sequences/') ||
    name.includes(':embeddings/') ||
    name.includes('/partitions/')
  ) {
    return 'embed';
  }
  return 'publish';
}

/** The crash points of a traced run, in order, each with its occurrence count. */
function parseTrace(stderr: string): CrashPoint[] {
  const seen = new Map<string, number>();
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('crash-point '))
    .map((line, order) => {
      const name = line.slice('crash-point '.length);
      const hit = (seen.get(name) ?? 0) + 1;
      seen.set(name, hit);
      return { name, hit, stage: stageOf(name), order };
    });
}

/**
 * No lease override: a rerun takes over the lock a killed run left (its holder's process is gone),
 * with the runner's default lease (src/pipeline/local-runner.ts).
 */
const env: Record<string, string> = {};

function describeRun(run: CliRun): string {
  return `code ${run.code} signal ${run.signal}\n${run.stderr.slice(-2000)}`;
}

let base: string;
let seedDir: string;
/** The generated data before any run. */
let pristineDir: string;
let firstRunTrace: CrashPoint[] = [];
let seedState: DataDirState;
let cleanState: DataDirState;
let trace: CrashPoint[] = [];
const sampleUsers: string[] = [];
const seedLookups = new Map<string, unknown>();
const log = new TrialLog('crash');
const pointerMoved = new Map<Stage | 'timed', number>();
let crashTrials = 0;
let tempFilesLeft = 0;

/** One SIGKILL trial; `kill` kills a run, checks the readers' view and says whether the pointer had moved to day 2. */
function crashTrial(stage: Stage | 'timed', kill: () => Promise<boolean>): Promise<void> {
  const description =
    stage === 'timed'
      ? 'SIGKILL of the daily CLI at a random time after plan, then rerun'
      : `SIGKILL of the daily CLI at a random durable write of the ${stage} stage, then rerun`;
  return log.trial(`crash.${stage}`, description, async (note) => {
    crashTrials++;
    const onDay2 = await kill();
    if (onDay2) pointerMoved.set(stage, (pointerMoved.get(stage) ?? 0) + 1);
    note(
      'killed there; readers saw day 1 (or, once the pointer had moved, the complete day 2); the rerun equalled the clean run',
      { pointerAlreadyMoved: pointerMoved.get(stage) ?? 0 },
    );
  });
}

/** The rerun that ends a chain; `rerun` runs it, compares it and returns its temporary files left. */
function rerunTrial(rerun: () => Promise<number>): Promise<void> {
  return log.trial(
    'crash.rerun',
    'the rerun that ends each chain of crashes, compared with the clean run',
    async (note) => {
      tempFilesLeft += await rerun();
      note(
        `table items, snapshot and run objects equal to the clean run's (clock fields aside); ${tempFilesLeft} temporary files of the killed writers left after the reruns (each rerun sweeps them at start)`,
        { crashTrials, tracePoints: trace.length, orphanedTempFiles: tempFilesLeft },
      );
    },
  );
}

/** Items of the embedding rows of one date (pk u#..., sk date). */
function rowsOf(state: DataDirState, date: string): string[] {
  return state.items.filter((i) => i.includes('"pk":{"S":"u#') && i.includes(`"sk":{"S":"${date}"}`));
}

function pointerOf(state: DataDirState): { version: string; seq: string } | undefined {
  const item = state.items.find((i) => i.includes('"pk":{"S":"#pointer"}'));
  if (!item) return undefined;
  const raw = JSON.parse(item) as Record<string, { S?: string; N?: string }>;
  return { version: raw.version!.S!, seq: raw.seq!.N! };
}

/** Readers' view after a crash: lookups answer exactly as before the run, unless the pointer moved. */
async function assertReadersView(dataDir: string, state: DataDirState): Promise<boolean> {
  const pointer = pointerOf(state);
  expect(pointer).toBeDefined();
  const onDay2 = pointer!.version.endsWith(`@${DAY2}`);
  if (onDay2) {
    // The pointer moves only after every partition wrote: the table's day-2 rows are complete.
    expect(pointer!.seq).toBe('2');
    expect(rowsOf(state, DAY2)).toEqual(rowsOf(cleanState, DAY2));
    return true;
  }
  expect(pointer!.seq).toBe('1');
  expect(rowsOf(state, DAY1)).toEqual(rowsOf(seedState, DAY1));
  const local = await openLocalEmbeddings({ dataDir });
  try {
    for (const userId of sampleUsers) {
      const response = await handleLookup(local.store, { userId }, { pointerCacheMs: 0 });
      expect(response.statusCode).toBe(200);
      expect(response.body).toEqual(seedLookups.get(userId));
    }
  } finally {
    await local.close();
  }
  return false;
}

function assertSameAsClean(state: DataDirState): void {
  expect(state.items.length).toBe(cleanState.items.length);
  expect(state.items).toEqual(cleanState.items);
  expect(Object.keys(state.objects).sort()).toEqual(Object.keys(cleanState.objects).sort());
  expect(state.objects).toEqual(cleanState.objects);
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'pf-crash-'));
  seedDir = join(base, 'seed');
  await generateDataset({ users: 800, days: 2, seed: 11, start: DAY1, out: seedDir });
  pristineDir = join(base, 'pristine');
  await cp(seedDir, pristineDir, { recursive: true });
  const day1 = await runCli(dailyArgs(seedDir, DAY1), { env: { ...env, PINNERFORMER_CRASH_TRACE: '1' } });
  expect(day1.code, describeRun(day1)).toBe(0);
  firstRunTrace = parseTrace(day1.stderr);
  seedState = await dataDirState(seedDir);

  // the readers' view before day 2: a few users' lookups
  const local = await openLocalEmbeddings({ dataDir: seedDir });
  try {
    const users = rowsOf(seedState, DAY1).map((i) => /"pk":\{"S":"u#[^#]+#([^"]+)"/.exec(i)![1]!);
    for (let k = 0; k < users.length; k += Math.ceil(users.length / 5)) sampleUsers.push(users[k]!);
    for (const userId of sampleUsers)
      seedLookups.set(userId, (await handleLookup(local.store, { userId }, { pointerCacheMs: 0 })).body);
  } finally {
    await local.close();
  }

  // the clean day-2 run, traced: every durable write it makes is a candidate crash point
  const cleanDir = join(base, 'clean');
  await cp(seedDir, cleanDir, { recursive: true });
  const clean = await runCli(dailyArgs(cleanDir, DAY2), { env: { ...env, PINNERFORMER_CRASH_TRACE: '1' } });
  expect(clean.code, describeRun(clean)).toBe(0);
  expect(JSON.parse(clean.stdout).published).toBe(true);
  cleanState = await dataDirState(cleanDir);
  trace = parseTrace(clean.stderr);
}, 300_000);

afterAll(async () => {
  await log.write();
  await rm(base, { recursive: true, force: true });
});

describe('crash anywhere: SIGKILL then rerun', () => {
  it('the clean trace has write points in every stage, embed writes included', () => {
    for (const stage of STAGE_ORDER) expect(trace.filter((p) => p.stage === stage).length).toBeGreaterThan(0);
    expect(firstRunTrace.filter((p) => p.stage === 'deploy').length).toBeGreaterThanOrEqual(8);
    expect(trace.filter((p) => p.name === 'dynamo:batch-write').length).toBeGreaterThanOrEqual(8);
  });

  for (let chain = 0; chain < CHAINS; chain++) {
    it(`chain ${chain}: ${HOOK_TRIALS_PER_CHAIN} crashes at random write points, then a rerun equals the clean run`, async () => {
      // Prepare: a copy of the state after day 1, and this chain's seeded crash points (at least one
      // per stage), in run order so that each one is reached by the run it arms.
      const dir = join(base, `chain-${chain}`);
      await cp(seedDir, dir, { recursive: true });
      const rng = new Rng(1000 + chain);
      const pick = (points: CrashPoint[]): CrashPoint => points[rng.int(points.length)]!;
      const chosen = STAGE_ORDER.map((stage) => pick(trace.filter((p) => p.stage === stage)));
      chosen.push(pick(trace.filter((p) => p.name === 'dynamo:batch-write'))); // mid-write of the embed stage
      while (chosen.length < HOOK_TRIALS_PER_CHAIN) chosen.push(pick(trace));
      chosen.sort((a, b) => a.order - b.order);

      for (const point of chosen) {
        await crashTrial(point.stage, async () => {
          // Act: the run dies at the point
          const run = await runCli(dailyArgs(dir, DAY2), {
            env: { ...env, PINNERFORMER_CRASH_AT: point.name, PINNERFORMER_CRASH_AFTER: String(point.hit) },
          });
          // Assess: it was killed there, and readers still see a consistent version
          expect(run.signal, `${point.name}#${point.hit}: ${describeRun(run)}`).toBe('SIGKILL');
          expect(run.stderr).toContain(`SIGKILL at ${point.name}`);
          return assertReadersView(dir, await dataDirState(dir));
        });
      }

      await rerunTrial(async () => {
        const rerun = await runCli(dailyArgs(dir, DAY2), { env });
        expect(rerun.code, describeRun(rerun)).toBe(0);
        expect(JSON.parse(rerun.stdout).published).toBe(true);
        const final = await dataDirState(dir);
        assertSameAsClean(final);
        expect(final.tempFiles, 'temporary files of the killed writers, after the rerun').toBe(0);
        return final.tempFiles;
      });
    }, 600_000);
  }

  it('first run: crashes while deploying the model and in the first run, then a rerun equals the clean first run', async () => {
    // Prepare: the data before any run; two deploy points (mid-copy of the model) and one other
    const dir = join(base, 'first-run');
    await cp(pristineDir, dir, { recursive: true });
    const rng = new Rng(4242);
    const deploy = firstRunTrace.filter((p) => p.stage === 'deploy');
    const others = firstRunTrace.filter((p) => p.stage !== 'deploy' && p.stage !== 'publish');
    const first = deploy[rng.int(deploy.length)]!;
    const rest = deploy.filter((p) => p !== first);
    const chosen = [first, rest[rng.int(rest.length)]!, others[rng.int(others.length)]!];
    chosen.sort((a, b) => a.order - b.order);

    for (const point of chosen) {
      await crashTrial(point.stage, async () => {
        // Act
        const run = await runCli(dailyArgs(dir, DAY1), {
          env: { ...env, PINNERFORMER_CRASH_AT: point.name, PINNERFORMER_CRASH_AFTER: String(point.hit) },
        });
        // Assess: killed there; nothing published yet, so readers get 404, not a partial version
        expect(run.signal, `${point.name}#${point.hit}: ${describeRun(run)}`).toBe('SIGKILL');
        const state = await dataDirState(dir);
        expect(pointerOf(state)).toBeUndefined();
        const local = await openLocalEmbeddings({ dataDir: dir });
        try {
          const response = await handleLookup(local.store, { userId: sampleUsers[0] }, { pointerCacheMs: 0 });
          expect(response.statusCode).toBe(404);
        } finally {
          await local.close();
        }
        return false;
      });
    }

    await rerunTrial(async () => {
      const rerun = await runCli(dailyArgs(dir, DAY1), { env });
      expect(rerun.code, describeRun(rerun)).toBe(0);
      const final = await dataDirState(dir);
      expect(final.items).toEqual(seedState.items);
      expect(final.objects).toEqual(seedState.objects);
      expect(final.tempFiles, 'temporary files of the killed writers, after the rerun').toBe(0);
      return final.tempFiles;
    });
  }, 600_000);

  it(`timed: ${TIMED_TRIALS} SIGKILLs at random times after plan, then a rerun equals the clean run`, async () => {
    const dir = join(base, 'timed');
    await cp(seedDir, dir, { recursive: true });
    const rng = new Rng(77);
    let kills = 0;
    for (let attempt = 0; kills < TIMED_TRIALS && attempt < 3 * TIMED_TRIALS; attempt++) {
      const delay = Math.round(rng.next() * 2500);
      const run = await runCli(dailyArgs(dir, DAY2), { env, killAfterLine: '] plan ', killAfterMs: delay });
      if (!run.killedByHarness) {
        // The run finished before the timer: not a crash trial. Start again from the day-1 state.
        expect(run.code, describeRun(run)).toBe(0);
        await rm(dir, { recursive: true, force: true });
        await cp(seedDir, dir, { recursive: true });
        continue;
      }
      kills++;
      await crashTrial('timed', async () => assertReadersView(dir, await dataDirState(dir)));
    }
    expect(kills).toBe(TIMED_TRIALS);
    await rerunTrial(async () => {
      const rerun = await runCli(dailyArgs(dir, DAY2), { env });
      expect(rerun.code, describeRun(rerun)).toBe(0);
      const final = await dataDirState(dir);
      assertSameAsClean(final);
      expect(final.tempFiles, 'temporary files of the killed writers, after the rerun').toBe(0);
      return final.tempFiles;
    });
  }, 600_000);
});
