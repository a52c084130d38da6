/**
 * The versioning contract end to end (issue 4): three daily runs on a synthetic data set through
 * the local runner (worker threads, a temp-dir object store, real dynalite).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateOfItemSortKey, parseVersionId } from '../src/embeddings/table-schema.ts';
import { encodeEvents } from '../src/events/write-events.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { type RunDailyOptions, runDaily } from '../src/pipeline/local-runner.ts';
import { NotFoundError } from '../src/util/errors.ts';
import {
  fixtureModel,
  fixtureModelVersion,
  scanTable,
  stateOf,
  syntheticDataDir,
  writtenFiles,
} from './pipeline-helpers.ts';

const [D1, D2, D3] = ['2026-10-02', '2026-10-03', '2026-10-04'] as const;
const MV = fixtureModelVersion('tiny');
const MV_B = fixtureModelVersion('tiny-b');
/** The bench's inference profiler (src/inference/profiler.ts). */
const BENCH_PROFILER = pathToFileURL(resolve('bench/thread-cpu.mjs')).href;

let dataDir: string;
let local: LocalEmbeddings;

const run = (date: string, extra: Partial<RunDailyOptions> = {}) =>
  runDaily({ dataDir, date, modelDir: fixtureModel('tiny'), partitions: 4, workers: 2, embeddings: local, ...extra });

/** Every user's embedding row in a day's state (base + deltas: what readers get). */
async function allSnapshots(mv: string, date: string) {
  return (await stateOf(dataDir, mv, date)).embeddings;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

beforeAll(async () => {
  dataDir = await syntheticDataDir(400, 4, '2026-10-01');
  local = await openLocalEmbeddings({ dataDir });
});

afterAll(async () => {
  await local?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('daily runs over three days', () => {
  it('publishes D1 and D2; users inactive on D2 keep their D1 embedding', async () => {
    // Act
    const first = await run(D1);
    const second = await run(D2);
    // Assess
    expect(first.published).toBe(true);
    expect(second.published).toBe(true);
    expect(first.embeddedUsers).toBeGreaterThan(0);
    expect(second.embeddedUsers).toBeLessThan((await allSnapshots(MV, D2)).size); // incremental, not everyone
    const pointer = await local.store.getPointer();
    expect(pointer?.version).toBe(`${MV}@${D2}`);

    const d2 = await allSnapshots(MV, D2);
    const carried = [...d2].filter(([, r]) => r.date === D1);
    const refreshed = [...d2].filter(([, r]) => r.date === D2);
    expect(carried.length).toBeGreaterThan(0);
    expect(refreshed.length).toBe(second.embeddedUsers);
    const d1 = await allSnapshots(MV, D1);
    for (const [userId, row] of carried.slice(0, 20)) {
      const found = await local.store.lookup(userId);
      expect(found?.date).toBe(D1);
      expect(found?.version).toBe(`${MV}@${D2}`);
      expect(maxAbsDiff(found!.embedding, row.embedding)).toBeLessThan(2e-3); // fp16 storage
      expect(maxAbsDiff(row.embedding, d1.get(userId)!.embedding)).toBe(0);
    }
    for (const [userId, row] of refreshed.slice(0, 20)) {
      const found = await local.store.lookup(userId);
      expect(found?.date).toBe(D2);
      expect(maxAbsDiff(found!.embedding, row.embedding)).toBeLessThan(2e-3);
    }
  });

  it('keeps a refused run invisible, then publishes its rerun', async () => {
    // Act: a gate that cannot pass (drift bound above any cosine)
    const refused = await run(D3, { gate: { minMeanCosine: 1.5 } });
    // Assess
    expect(refused.published).toBe(false);
    expect(refused.reasons.join(' ')).toMatch(/drift/);
    expect((await local.store.getPointer())?.version).toBe(`${MV}@${D2}`);
    const d3 = await allSnapshots(MV, D3);
    const activeOnD3 = [...d3].filter(([, r]) => r.date === D3).map(([u]) => u);
    expect(activeOnD3.length).toBeGreaterThan(0);
    for (const userId of activeOnD3.slice(0, 20)) {
      const found = await local.store.lookup(userId);
      expect(found === undefined || found.date <= D2).toBe(true);
    }
    await expect(local.store.lookup(activeOnD3[0]!, parseVersionId(`${MV}@${D3}`))).rejects.toBeInstanceOf(
      NotFoundError,
    );
    const versions = await local.store.listVersions();
    expect(versions.find((v) => v.version === `${MV}@${D3}`)?.published).toBe(false);

    // Act: the same day with the default gate
    const rerun = await run(D3);
    // Assess
    expect(rerun.published).toBe(true);
    expect((await local.store.getPointer())?.version).toBe(`${MV}@${D3}`);
    const found = await local.store.lookup(activeOnD3[0]!);
    expect(found?.date).toBe(D3);
  });

  it('rolls the pointer back and answers from the earlier version', async () => {
    // Prepare
    const d3 = await allSnapshots(MV, D3);
    const [userId] = [...d3].find(([, r]) => r.date === D3)!;
    const atD2 = (await allSnapshots(MV, D2)).get(userId);
    // Act
    await local.store.rollback(`${MV}@${D2}`);
    // Assess
    expect((await local.store.getPointer())?.version).toBe(`${MV}@${D2}`);
    const found = await local.store.lookup(userId);
    if (atD2 === undefined) expect(found).toBeUndefined();
    else expect(found?.date).toBe(atD2.date);
    // and forward again for the next cases
    await local.store.rollback(`${MV}@${D3}`);
  });

  it('reruns a day idempotently: identical table and snapshots', async () => {
    // Prepare
    const tableBefore = await scanTable(local);
    const files = await writtenFiles(dataDir, MV, D2);
    expect(files).toHaveLength(8);
    const bytesBefore = files.map((k) => readFileSync(join(dataDir, k)));
    // Act
    const rerun = await run(D2);
    // Assess: the same inputs as the published attempt, so the same keys with the same bytes
    expect(rerun.published).toBe(true);
    expect(rerun.attempt).toBeUndefined();
    expect((await local.store.getPointer())?.version).toBe(`${MV}@${D3}`); // an older day never moves it back
    files.forEach((k, i) => {
      expect(readFileSync(join(dataDir, k)).equals(bytesBefore[i]!), k).toBe(true);
    });
    const tableAfter = await scanTable(local);
    const userItems = (m: Map<string, string>) => [...m].filter(([k]) => k.startsWith('u#'));
    expect(userItems(tableAfter)).toEqual(userItems(tableBefore));
  });

  it('pipelined (inference threads, two partitions per worker) writes the same table and snapshots as serial', async () => {
    // Prepare
    const files = await writtenFiles(dataDir, MV, D2);
    const userItems = (m: Map<string, string>) => [...m].filter(([k]) => k.startsWith('u#'));
    // Act
    const serial = await run(D2, { pipelined: false });
    const serialBytes = files.map((k) => readFileSync(join(dataDir, k)));
    const serialTable = userItems(await scanTable(local));
    const pipelined = await run(D2, { pipelined: true, profiler: BENCH_PROFILER });
    // Assess
    expect(serial.inference).toMatchObject({ lanes: 2, pipelined: false });
    expect(pipelined.inference).toMatchObject({ lanes: 2, pipelined: true });
    expect(pipelined.inference!.busyShare).toBeGreaterThan(0);
    expect(pipelined.inference!.busyShare).toBeLessThanOrEqual(1);
    // CPU only with a profiler (on the inference threads here), in time and (Linux) in CPU
    expect(serial.inference!.cpuShare).toBeUndefined();
    if (process.platform === 'linux') {
      // a tiny model's runs may add up to less than one 10 ms tick of CPU
      expect(pipelined.inference!.cpuShare).toBeGreaterThanOrEqual(0);
      expect(pipelined.inference!.cpuShare).toBeLessThanOrEqual(1);
    }
    expect(pipelined.embeddedUsers).toBe(serial.embeddedUsers);
    files.forEach((k, i) => {
      expect(readFileSync(join(dataDir, k)).equals(serialBytes[i]!), k).toBe(true);
    });
    expect(userItems(await scanTable(local))).toEqual(serialTable);
  });

  it('a rerun of a published day with changed input writes under its own attempt; publishing it switches readers', async () => {
    // Prepare: one more event file on D2 (a late delivery)
    const before = await scanTable(local);
    const extra = join(dataDir, 'events', `dt=${D2}`, 'part-late.parquet');
    const late = { userId: 'u-late', itemId: 'i0000001', action: 'save' as const, surface: 'home', durationMs: 1000 };
    writeFileSync(extra, encodeEvents([{ ...late, ts: Date.parse(`${D2}T12:00:00Z`) }]));
    // Act: refused first (no drift can pass), then with the default gate
    const refused = await run(D2, { gate: { minMeanCosine: 1.5 } });
    const afterRefused = await scanTable(local);
    const repaired = await run(D2);
    rmSync(extra);
    // Assess
    expect(refused.published).toBe(false);
    expect(refused.attempt).toMatch(/^[a-z0-9]+$/);
    const published = [...before].filter(([k]) => !k.startsWith('u#'));
    expect([...afterRefused].filter(([k]) => k.startsWith('#version') || k.startsWith('#pointer'))).toEqual(
      published.filter(([k]) => k.startsWith('#version') || k.startsWith('#pointer')),
    );
    for (const [k, v] of before) if (k.startsWith('u#')) expect(afterRefused.get(k)).toBe(v);
    expect(repaired.published).toBe(true);
    expect(repaired.attempt).toMatch(/^[a-z0-9]+$/);
    expect(repaired.attempt).not.toBe(refused.attempt);
    expect((await local.store.getVersion(`${MV}@${D2}`))?.attempt).toBe(repaired.attempt);
    const files = await writtenFiles(dataDir, MV, D2, repaired.attempt);
    expect(files.every((k) => k.includes(`/attempt=${repaired.attempt}/`))).toBe(true);
    for (const k of files) expect(readFileSync(join(dataDir, k)).length).toBeGreaterThan(0);
  });

  it('isolates model versions: a second model re-embeds everyone under its own keys', async () => {
    // Prepare
    const d3 = await allSnapshots(MV, D3);
    // Act
    const other = await run(D3, { modelDir: fixtureModel('tiny-b') });
    // Assess
    expect(other.published).toBe(true);
    expect(other.modelVersion).toBe(MV_B);
    expect(other.embeddedUsers).toBe((await allSnapshots(MV_B, D3)).size); // model change: everyone
    const [userId, mine] = [...d3][0]!;
    const current = await local.store.lookup(userId);
    expect(current?.modelVersion).toBe(MV_B);
    const pinned = await local.store.lookup(userId, parseVersionId(`${MV}@${D3}`));
    expect(pinned?.modelVersion).toBe(MV);
    expect(maxAbsDiff(pinned!.embedding, mine.embedding)).toBeLessThan(2e-3);
    expect(maxAbsDiff(current!.embedding, pinned!.embedding)).toBeGreaterThan(1e-2);
  });

  it('sets the TTL attribute on every embedding item from its date and the retention', async () => {
    // Act
    const items = await scanTable(local);
    // Assess
    const embeddings = [...items].filter(([k]) => k.startsWith('u#'));
    expect(embeddings.length).toBeGreaterThan(0);
    for (const [key, json] of embeddings) {
      const date = dateOfItemSortKey(key.split('|')[1]!);
      const ttl = Number((JSON.parse(json) as { ttl: { N: string } }).ttl.N);
      expect(ttl).toBe(Date.parse(`${date}T00:00:00Z`) / 1000 + local.store.retentionDays * 86400);
    }
  });
});
