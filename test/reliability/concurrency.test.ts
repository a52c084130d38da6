/**
 * Fault 3, two runs at once for the same date (docs/reliability.md). In one process, two runs share
 * one table (the AWS situation: two executions, one DynamoDB table) and meet the run lock, a
 * conditional put; as two CLI processes on one data dir they also meet the embedded table's file
 * lock. Either way one run proceeds, the other stops with a clear message, and the result equals a
 * clean run's. No transactions are involved (dynalite has none).
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalEmbeddings, openLocalEmbeddings } from '../../src/local/local-embeddings.ts';
import { runDaily } from '../../src/pipeline/local-runner.ts';
import type { DailySummary } from '../../src/pipeline/types.ts';
import { generateDataset } from '../../src/synth/generate.ts';
import { dataDirState, objectState, runCli, scanTable } from '../../src/testing/crash-harness.ts';
import { TrialLog } from '../../src/testing/reliability-report.ts';
import { ConflictError } from '../../src/util/errors.ts';
import { DAILY_MODEL, DAILY_SHAPE, dailyArgs } from './daily-cli.ts';

/** Whole daily runs on a loaded 2-core machine can take a while; the default 120 s is tight. */
const RUN_TIMEOUT_MS = 300_000;

const DAY = '2026-10-01';

let base: string;
let seedDir: string;
let clean: { items: string[]; objects: Record<string, string> };
const log = new TrialLog('concurrency');
let runLockTrials = 0;

function daily(dataDir: string, local: LocalEmbeddings, log?: (message: string) => void): Promise<DailySummary> {
  return runDaily({
    dataDir,
    date: DAY,
    modelDir: DAILY_MODEL,
    ...DAILY_SHAPE,
    embeddings: local,
    ...(log ? { log } : {}),
  });
}

/** Two runs of the same date on one table; the second starts when the first logs `startSecondOn`. */
async function twoRuns(dir: string, startSecondOn: string | undefined) {
  const local = await openLocalEmbeddings();
  try {
    let release!: () => void;
    const firstReached = new Promise<void>((resolve) => {
      release = resolve;
    });
    if (startSecondOn === undefined) release();
    const first = daily(dir, local, (message) => {
      if (startSecondOn !== undefined && message.includes(startSecondOn)) release();
    });
    const second = firstReached.then(() => daily(dir, local));
    const outcomes = await Promise.allSettled([first, second]);
    return { outcomes, items: await scanTable(local.dynamo.client, local.tableName) };
  } finally {
    await local.close();
  }
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'pf-concurrency-'));
  seedDir = join(base, 'seed');
  await generateDataset({ users: 400, days: 1, seed: 9, start: DAY, out: seedDir });
  const dir = join(base, 'clean');
  await cp(seedDir, dir, { recursive: true });
  const local = await openLocalEmbeddings();
  try {
    expect((await daily(dir, local)).published).toBe(true);
    clean = { items: await scanTable(local.dynamo.client, local.tableName), ...(await objectState(dir)) };
  } finally {
    await local.close();
  }
}, 300_000);

afterAll(async () => {
  await log.write();
  await rm(base, { recursive: true, force: true });
});

describe('two runs at once for the same date', { timeout: RUN_TIMEOUT_MS }, () => {
  const starts: [string, string | undefined][] = [
    ['together', undefined],
    ['after plan', 'plan '],
    ['after the partition stage', 'slice 0:'],
  ];
  for (const [label, startSecondOn] of starts) {
    it(`one table, second run started ${label}: one proceeds, the other stops with a conflict`, () =>
      log.trial(
        'concurrency.run-lock',
        'two runs of one date on one table (one process), the second started at once / after plan / after the partition stage',
        async (note) => {
          // Prepare
          const dir = join(base, `run-lock-${runLockTrials++}`);
          await cp(seedDir, dir, { recursive: true });

          // Act
          const { outcomes, items } = await twoRuns(dir, startSecondOn);

          // Assess: exactly one published, the other refused by the lock with a clear message
          const published = outcomes.filter((o) => o.status === 'fulfilled' && o.value.published);
          const refused = outcomes
            .filter((o) => o.status === 'rejected')
            .map((o) => (o as PromiseRejectedResult).reason);
          note(
            `${published.length} published, ${refused.length} stopped: "${String(refused[0]?.message)
              .replace(/local-\S+/, 'local-<host>-<pid>-<id>')
              .replace(/until \S+/, 'until <lease end>')}"; table and snapshots compared with a clean run`,
          );
          expect(published).toHaveLength(1);
          expect(refused).toHaveLength(1);
          expect(refused[0]).toBeInstanceOf(ConflictError);
          expect(String(refused[0].message)).toMatch(/already running: locked by local-/);
          expect(items).toEqual(clean.items);
          const objects = (await objectState(dir)).objects;
          expect(objects).toEqual(clean.objects);
        },
      ));
  }

  it('two CLI processes on one data dir: one exits 0, the other exits 1 with a clear message', () =>
    log.trial(
      'concurrency.cli',
      'two `pinnerformer daily` processes for one date on one data dir, started together',
      async (note) => {
        // Prepare
        const dir = join(base, 'cli');
        await cp(seedDir, dir, { recursive: true });
        const args = dailyArgs(dir, DAY);

        // Act
        const runs = await Promise.all([runCli(args), runCli(args)]);

        // Assess
        const ok = runs.filter((r) => r.code === 0);
        const stopped = runs.filter((r) => r.code !== 0);
        expect(ok).toHaveLength(1);
        expect(stopped).toHaveLength(1);
        expect(JSON.parse(ok[0]!.stdout).published).toBe(true);
        expect(stopped[0]!.code).toBe(1);
        const message = stopped[0] && /error \[CONFLICT\]: .*/.exec(stopped[0].stderr)?.[0];
        note(
          `exit codes ${runs.map((r) => r.code).join(' and ')}: "${message?.replace(dir, '<data>') ?? stopped[0]?.stderr.slice(0, 120)}"; state compared with a clean run`,
        );
        expect(message, stopped[0]!.stderr).toBeDefined();
        expect(message).toMatch(/another process is using .*dynamodb|already running/);
        const state = await dataDirState(dir);
        expect(state.items).toEqual(clean.items);
        expect(state.objects).toEqual(clean.objects);
      },
    ));
});
