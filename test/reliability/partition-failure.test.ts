/**
 * Fault 4, a partition that fails for good (docs/reliability.md). Day 1 is published; then the
 * day-1 sequence snapshot of one partition is corrupted, so that partition's embed stage fails on
 * every attempt of day 2. The run must not publish, the report must name the partition, and the
 * pointer and the readers' view must stay on day 1 — on the first attempt and on a rerun.
 */

import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalEmbeddings, openLocalEmbeddings } from '../../src/local/local-embeddings.ts';
import { handleLookup } from '../../src/lookup/handler.ts';
import { layout } from '../../src/pipeline/layout.ts';
import { runDaily } from '../../src/pipeline/local-runner.ts';
import type { DailySummary } from '../../src/pipeline/types.ts';
import { generateDataset } from '../../src/synth/generate.ts';
import { scanTable } from '../../src/testing/crash-harness.ts';
import { recordReliability } from '../../src/testing/reliability-report.ts';

const DAY1 = '2026-10-01';
const DAY2 = '2026-10-02';
const MODEL = 'test/fixtures/models/tiny';
const BROKEN = 2;
const ATTEMPTS = 2;

let dir: string;
let local: LocalEmbeddings;
let modelVersion: string;
const before = new Map<string, unknown>();
let itemsBefore: string[];
const attempts: DailySummary[] = [];

function daily(date: string): Promise<DailySummary> {
  return runDaily({ dataDir: dir, date, modelDir: MODEL, partitions: 4, workers: 1, threads: 1, embeddings: local });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pf-partition-failure-'));
  await generateDataset({ users: 400, days: 2, seed: 21, start: DAY1, out: join(dir, 'objects') });
  local = await openLocalEmbeddings();
  const day1 = await daily(DAY1);
  expect(day1.published).toBe(true);
  modelVersion = day1.modelVersion;
  itemsBefore = await scanTable(local.dynamo.client, local.tableName);
  const users = itemsBefore
    .map((i) => /"pk":\{"S":"u#[^#]+#([^"]+)"/.exec(i)?.[1])
    .filter((u): u is string => u !== undefined)
    .slice(0, 20);
  for (const userId of users)
    before.set(userId, (await handleLookup(local.store, { userId }, { pointerCacheMs: 0 })).body);
  // the fault: partition 2's day-1 sequence snapshot is unreadable from now on
  await writeFile(
    join(dir, 'objects', layout.sequences(modelVersion, DAY1, BROKEN)),
    'PAR1 this is not a parquet file',
  );
}, 300_000);

afterAll(async () => {
  if (attempts.length > 0) {
    await recordReliability('partition-failure', [
      {
        id: 'partition.fails-for-good',
        description: `partition ${BROKEN} of day 2 fails on every attempt (its day-1 sequence snapshot is corrupt)`,
        trials: attempts.length,
        passed: attempts.filter((a) => !a.published).length,
        result: `not published on any attempt; pointer and lookups stayed on day 1; report: "${attempts[0]?.reasons.join('; ').slice(0, 160)}"`,
        figures: { partitionsDonePerAttempt: 4 - 1 },
      },
    ]);
  }
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a partition that fails for good', () => {
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    it(`attempt ${attempt}: not published, the report names partition ${BROKEN}, readers stay on day 1`, async () => {
      // Act
      const summary = await daily(DAY2);
      attempts.push(summary);

      // Assess: the report
      expect(summary.published).toBe(false);
      expect(summary.reasons.some((r) => r.startsWith(`partition ${BROKEN} failed:`))).toBe(true);
      expect(summary.reasons).toContain(`partitions not finished: ${BROKEN}`);
      // the pointer and the version records
      const pointer = await local.store.getPointer();
      expect(pointer?.version).toBe(`${modelVersion}@${DAY1}`);
      expect(pointer?.seq).toBe(1);
      const day2 = await local.store.getVersion(`${modelVersion}@${DAY2}`);
      expect(day2?.published).toBe(false);
      // the readers' view: the same answers as before the run; day 2 cannot be pinned
      for (const [userId, body] of before) {
        const response = await handleLookup(local.store, { userId }, { pointerCacheMs: 0 });
        expect(response.statusCode).toBe(200);
        expect(response.body).toEqual(body);
      }
      const pinned = await handleLookup(
        local.store,
        { userId: [...before.keys()][0], version: `${modelVersion}@${DAY2}` },
        { pointerCacheMs: 0 },
      );
      expect(pinned.statusCode).toBe(404);
      // day 1's items are untouched
      const dayOne = (items: string[]) => items.filter((i) => i.includes(`"sk":{"S":"${DAY1}"}`));
      expect(dayOne(await scanTable(local.dynamo.client, local.tableName))).toEqual(dayOne(itemsBefore));
    });
  }
});
