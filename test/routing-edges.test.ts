/**
 * The plan and partition stages' edges that test/plan-routing.test.ts left open (the survivors of
 * the first `make mutation MODULES=routing` run, docs/reliability.md): what each refusal names,
 * the settings that only reach the manifest, which inputs make a rerun write apart, the row-group
 * pieces exactly, and partitionSlice's counts, duplicates, clock and failures. A real temp-dir
 * object store and dynalite, no embedding (fast enough to run once per mutant).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMPACT_DELTA_SHARE } from '../src/contract/run-contract.ts';
import { MAX_USER_ID_BYTES } from '../src/embeddings/embedding-item.ts';
import { objectByteSource } from '../src/events/read-events.ts';
import type { Event } from '../src/events/schema.ts';
import { encodeEvents } from '../src/events/write-events.ts';
import { decodeParquet, parquetRowGroups } from '../src/io/parquet.ts';
import { layout } from '../src/pipeline/layout.ts';
import { partitionSlice } from '../src/pipeline/partition.ts';
import { assertRunDateNotAhead, chooseAttempt, plan, readRunManifest } from '../src/pipeline/plan.ts';
import { writtenKeys } from '../src/pipeline/state-chain.ts';
import type { PipelineEnv, RunManifest } from '../src/pipeline/types.ts';
import { NotFoundError, ValidationError } from '../src/util/errors.ts';
import { event, MV, putDay, routingFixture } from './routing-fixture.ts';

const { logs, freshEnv } = routingFixture('edges');

async function putStateFiles(env: PipelineEnv, run: RunManifest): Promise<void> {
  for (let partition = 0; partition < run.partitions; partition++) {
    const keys = writtenKeys(run, partition);
    await env.objects.put(keys.sequences, 'state');
    await env.objects.put(keys.embeddings, 'state');
  }
}

async function publish(env: PipelineEnv, date: string, attempt?: string): Promise<void> {
  const id = { modelVersion: MV, date, ...(attempt === undefined ? {} : { attempt }) };
  await env.embeddings.recordVersion({ ...id, published: false });
  await env.embeddings.publishVersion(id, (await env.embeddings.getPointer())?.seq);
}

const nowAfter = (day: string) => () => Date.parse(`${day}T23:00:00Z`);

describe('refusals name what they refuse', () => {
  it('carries the refused value in the error details', async () => {
    const now = Date.parse('2026-10-10T12:00:00Z');
    const refusal = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error as ValidationError;
      }
      throw new Error('not refused');
    };
    expect(refusal(() => assertRunDateNotAhead('2026-02-30', now, 6)).details).toEqual({ date: '2026-02-30' });
    expect(refusal(() => assertRunDateNotAhead('2026-10-09', now, 49)).details).toEqual({ toleranceHours: 49 });
    expect(refusal(() => assertRunDateNotAhead('2026-10-12', now, 6)).details).toEqual({
      date: '2026-10-12',
      today: '2026-10-10',
    });

    const env = await freshEnv();
    const D = '2026-09-01';
    await putDay(env, D, [[event('u1', D, 0)]]);
    const base = { date: D, modelVersion: MV, now: nowAfter(D) };
    await expect(plan(env, { ...base, partitions: 0 })).rejects.toMatchObject({ details: { partitions: 0 } });
    await expect(plan(env, { ...base, replayFrom: '2026-09-02' })).rejects.toMatchObject({
      details: { replayFrom: '2026-09-02' },
    });
    await expect(plan(env, { ...base, date: '2026-08-31' })).rejects.toMatchObject({
      details: { date: '2026-08-31', root: env.objects.root },
    });
    // a day folder with two ignored objects and none to read: both named, with their reasons
    await env.objects.put('events/dt=2026-08-30/a.txt', 'x');
    await env.objects.put('events/dt=2026-08-30/b.parquet.tmp', 'x');
    const empty = await plan(env, { ...base, date: '2026-08-30' }).catch((e) => e);
    expect(empty.message).toContain(
      ': ignored events/dt=2026-08-30/a.txt (not_parquet), events/dt=2026-08-30/b.parquet.tmp (in_progress). ',
    );
    expect(empty.details).toEqual({ date: '2026-08-30', ignored: 2 });
    await expect(readRunManifest(env, MV, '2026-01-01')).rejects.toMatchObject({
      details: { modelVersion: MV, date: '2026-01-01' },
    });
    await plan(env, base);
    await expect(partitionSlice(env, { date: D, modelVersion: MV, slice: 3 })).rejects.toMatchObject({
      details: { slice: 3 },
    });
  });

  it('refuses compaction settings out of range, by name', async () => {
    const env = await freshEnv();
    const D = '2026-09-03';
    await putDay(env, D, [[event('u1', D, 0)]]);
    const base = { date: D, modelVersion: MV, now: nowAfter(D) };
    for (const share of [0, -0.5, Number.NaN, COMPACT_DELTA_SHARE.max + 1]) {
      const refused = await plan(env, { ...base, compactDeltaShare: share }).catch((e) => e);
      expect(refused).toBeInstanceOf(ValidationError);
      expect(refused.message).toBe(`compactDeltaShare must be in (0, ${COMPACT_DELTA_SHARE.max}], got ${share}`);
      expect(refused.details).toEqual({ compactDeltaShare: share });
    }
    await expect(plan(env, { ...base, compactEveryDays: 0 })).rejects.toThrow(
      /^compactEveryDays must be an integer in 1\.\.\d+, got 0$/,
    );
    expect(await env.objects.list('runs/')).toHaveLength(0);
    expect((await plan(env, { ...base, compactDeltaShare: 0.01 })).snapshot).toBe('full');
  });
});

describe('what plan reads and records', () => {
  it('uses the given clock, requires the marker when told, and never reads days after the run date', async () => {
    const env = await freshEnv();
    const D = '2026-08-10';
    await putDay(env, D, [[event('a', D, 0)]]);
    await putDay(env, '2026-08-11', [[event('later', '2026-08-11', 0)]]);
    // the given clock, not the machine's: D is ahead of it
    await expect(
      plan(env, { date: D, modelVersion: MV, now: () => Date.parse('2026-08-01T00:00:00Z') }),
    ).rejects.toThrow(/^run date 2026-08-10 is after today \(2026-08-01 UTC\)/);
    await expect(plan(env, { date: D, modelVersion: MV, now: nowAfter(D), requireMarker: true })).rejects.toThrow(
      /has no _SUCCESS marker/,
    );
    await env.objects.put(`events/dt=${D}/_SUCCESS`, '');
    const run = await plan(env, { date: D, modelVersion: MV, now: nowAfter('2026-08-11'), requireMarker: true });
    expect(run.days).toEqual([D]);
    expect(run.slices.flatMap((s) => s.files.map((f) => f.key))).toEqual([`events/dt=${D}/part-0.parquet`]);
    expect(Object.keys(run.dayFingerprints ?? {})).toEqual([D]);
  });

  it('records the write-policy dates with a skip threshold, and none without', async () => {
    const env = await freshEnv();
    const [D1, D2] = ['2026-08-20', '2026-08-21'];
    await putDay(env, D1, [[event('a', D1, 0)]]);
    await putDay(env, D2, [[event('a', D2, 0)]]);
    const first = await plan(env, { date: D1, modelVersion: MV, partitions: 2, now: nowAfter(D2) });
    expect(first).not.toHaveProperty('writePolicyDates');
    expect(first).not.toHaveProperty('previousState');
    await putStateFiles(env, first);
    await publish(env, D1);
    const next = await plan(env, {
      date: D2,
      modelVersion: MV,
      partitions: 2,
      now: nowAfter(D2),
      writeSkipCosine: 0.99,
    });
    expect(next.writePolicyDates).toEqual([D1]);
    expect(next.previousState).toEqual({ base: { date: D1 }, deltas: [] });
    expect(next).not.toHaveProperty('previousSnapshotAttempt');
    // a delta on that state, unless a backfill or the compaction settings say full
    expect(next.snapshot).toBe('delta');
    const again = { date: D2, modelVersion: MV, partitions: 2, now: nowAfter(D2) };
    expect((await plan(env, { ...again, backfill: true })).snapshot).toBe('full');
    expect(logs.get(env)!.at(-1)).toMatch(/, full snapshot \(backfill\)$/);
    expect((await plan(env, { ...again, compactEveryDays: 1 })).snapshot).toBe('full');
    expect(logs.get(env)!.at(-1)).toMatch(/, full snapshot \(compaction daily\)$/);
  });

  it("builds on the newest published run of its model only: a refused run, another model's are not state", async () => {
    const env = await freshEnv();
    const [D1, D2, D3] = ['2026-08-14', '2026-08-15', '2026-08-16'];
    for (const day of [D1, D2, D3]) await putDay(env, day, [[event('a', day, 0)]]);
    const input = { modelVersion: MV, partitions: 2, now: nowAfter(D3) };
    await putStateFiles(env, await plan(env, { ...input, date: D1 }));
    await publish(env, D1);
    await putStateFiles(env, await plan(env, { ...input, date: D2 }));
    await env.embeddings.recordVersion({ modelVersion: MV, date: D2, published: false }); // refused by the gate
    // another model's published D2 is not this model's state, though this model has a D2 manifest
    const other = { modelVersion: 'other-model', date: D2 };
    await env.embeddings.recordVersion({ ...other, published: false });
    await env.embeddings.publishVersion(other, (await env.embeddings.getPointer())?.seq);
    expect((await plan(env, { ...input, date: D3 })).previousSnapshotDate).toBe(D1);
  });

  it('plans without a log, and logs each ignored file and every changed day', async () => {
    const env = await freshEnv();
    const quiet: PipelineEnv = { objects: env.objects, embeddings: env.embeddings };
    const [D0, D1, D2] = ['2026-08-01', '2026-08-02', '2026-08-03'];
    for (const day of [D0, D1]) await putDay(env, day, [[event('a', day, 0)]]);
    const input = { modelVersion: MV, partitions: 2, lookbackDays: 2, now: nowAfter(D2) };
    await putStateFiles(env, await plan(env, { ...input, date: D1 }));
    await publish(env, D1);
    for (const day of [D0, D1]) await putDay(env, day, [[event('a', day, 0), event('late', day, 1)]]);
    await putDay(env, D2, [[event('b', D2, 0)]]);
    await env.objects.put(`events/dt=${D2}/notes.txt`, 'x');
    const run = await plan(quiet, { ...input, date: D2 });
    expect((run.inputChanges ?? []).map((c) => c.day)).toEqual([D0, D1]);
    expect(run.ignoredFiles).toEqual([{ key: `events/dt=${D2}/notes.txt`, reason: 'not_parquet' }]);
    await plan(env, { ...input, date: D2 });
    expect(logs.get(env)!.slice(-2)).toEqual([
      `ignored events/dt=${D2}/notes.txt: not_parquet (not read; docs/data.md, "Which files count")`,
      expect.stringMatching(new RegExp(`^input changed after it was used: dt=${D0} \\w+, dt=${D1} \\w+; `)),
    ]);
  });

  it("orders a slice's files by key in code units, whatever order the store lists them in", async () => {
    const env = await freshEnv();
    const D = '2026-08-05';
    const keys = [`events/dt=${D}/part-\uFFFD.parquet`, `events/dt=${D}/part-\u{1F600}.parquet`];
    for (const key of keys) await env.objects.put(key, encodeEvents([event('a', D, keys.indexOf(key))]));
    const listed = (await env.objects.list(`events/dt=${D}/`)).map((o) => o.key);
    expect(listed).toEqual(keys); // UTF-8 byte order: U+FFFD before U+1F600
    const run = await plan(env, { date: D, modelVersion: MV, now: nowAfter(D) });
    expect(run.slices.flatMap((s) => s.files.map((f) => f.key))).toEqual([keys[1], keys[0]]); // a surrogate first
  });

  it('builds on a republished attempt by its id', async () => {
    const env = await freshEnv();
    const [D1, D2] = ['2026-08-24', '2026-08-25'];
    await putDay(env, D1, [[event('a', D1, 0)]]);
    await putDay(env, D2, [[event('a', D2, 0)]]);
    const input = { date: D1, modelVersion: MV, partitions: 2, now: nowAfter(D2) };
    await putStateFiles(env, await plan(env, input));
    await publish(env, D1);
    const rerun = await plan(env, { ...input, refreshAgeDays: 3 }); // other inputs: written apart
    expect(rerun.attempt).toMatch(/^[0-9a-f]{12}$/);
    await putStateFiles(env, rerun);
    await publish(env, D1, rerun.attempt);
    const next = await plan(env, { ...input, date: D2 });
    expect(next).toMatchObject({ previousSnapshotDate: D1, previousSnapshotAttempt: rerun.attempt });
    expect(next.previousState).toEqual({ base: { date: D1, attempt: rerun.attempt }, deltas: [] });
    // the manifest of an explicit attempt, not the latest one
    const bare = await readRunManifest(env, MV, D1, undefined);
    expect(bare.attempt).toBe(rerun.attempt); // latest
    await plan(env, { ...input, refreshAgeDays: 4 }); // a newer attempt becomes the latest
    expect((await readRunManifest(env, MV, D1, rerun.attempt)).refreshAgeDays).toBe(3);
  });

  it('puts a file larger than a slice in its own slice, with no empty slice before it', async () => {
    const env = await freshEnv();
    const D = '2026-08-27';
    await putDay(env, D, [[event('a', D, 0)], [event('b', D, 1)]]);
    const run = await plan(env, { date: D, modelVersion: MV, sliceBytes: 1, now: nowAfter(D) });
    expect(run.slices.map((s) => [s.index, s.files.map((f) => [f.key, f.part])])).toEqual([
      [0, [[`events/dt=${D}/part-0.parquet`, undefined]]],
      [1, [[`events/dt=${D}/part-1.parquet`, undefined]]],
    ]);
    // a file whose footer cannot be read stays whole (the partition stage quarantines it)
    await env.objects.put(`events/dt=${D}/part-2.parquet`, 'x'.repeat(4096));
    const again = await plan(env, { date: D, modelVersion: MV, sliceBytes: 100, now: nowAfter(D) });
    expect(again.slices.flatMap((s) => s.files).at(-1)).toEqual({
      key: `events/dt=${D}/part-2.parquet`,
      size: 4096,
      date: D,
    });
  });

  it('cuts a big file into greedy runs of whole row groups, each at most sliceBytes', async () => {
    const env = await freshEnv();
    const D = '2026-08-28';
    const events = Array.from({ length: 400 }, (_, i) => event(`user-${i}`, D, i % 600));
    const big = encodeEvents(events, { rowGroupSize: 50 });
    const key = `events/dt=${D}/part-0.parquet`;
    await env.objects.put(key, big);
    const groups = await parquetRowGroups(objectByteSource(env.objects, key, big.length), key);
    expect(groups).toHaveLength(8);
    /** The expected cut, restated: consecutive groups while they fit. */
    const cut = (limit: number) => {
      const pieces: { rows: [number, number]; bytes: number }[] = [];
      for (const g of groups) {
        const last = pieces.at(-1);
        if (last && last.bytes + g.bytes <= limit) {
          last.rows[1] = g.rowStart + g.rows;
          last.bytes += g.bytes;
        } else pieces.push({ rows: [g.rowStart, g.rowStart + g.rows], bytes: g.bytes });
      }
      return pieces.map((p) => ({ key, date: D, size: p.bytes, part: { rows: p.rows, fileSize: big.length } }));
    };
    const pairs = groups[0]!.bytes + groups[1]!.bytes; // exactly two of the first groups
    for (const [sliceBytes, count] of [
      [Math.max(...groups.slice(0, 4).map((_, i) => groups[2 * i]!.bytes + groups[2 * i + 1]!.bytes)), 4],
      [pairs - 1, 8],
      [groups.reduce((n, g) => n + g.bytes, 0) - groups[7]!.bytes, 2],
    ] as const) {
      const run = await plan(env, { date: D, modelVersion: MV, sliceBytes, now: nowAfter(D) });
      const pieces = run.slices.flatMap((s) => s.files);
      expect(pieces).toEqual(cut(sliceBytes));
      expect(pieces).toHaveLength(count);
    }
  });
});

describe('which inputs make a rerun of a published date write apart', () => {
  it('every input of the run, and a manifest of another attempt', async () => {
    const env = await freshEnv();
    const D = '2026-07-02';
    await putDay(env, D, [[event('a', D, 0)]]);
    const first = await plan(env, { date: D, modelVersion: MV, partitions: 2, now: nowAfter(D) });
    await putStateFiles(env, first);
    await publish(env, D);
    const { attempt: _a, createdAt: _c, inputChanges: _i, ignoredFiles: _f, ...draft } = first;
    expect(await chooseAttempt(env, draft)).toBeUndefined(); // the same inputs: the published keys
    for (const change of [
      { writeSkipCosine: 0.9 },
      { writePolicyDates: ['2026-07-01'] },
      { previousSnapshotDate: '2026-07-01' },
      { previousSnapshotAttempt: 'aaaaaaaaaaaa' },
      { dayFingerprints: { ...draft.dayFingerprints, '2026-07-01': 'x' } },
      { snapshot: 'delta' as const },
      { previousState: { base: { date: '2026-07-01' }, deltas: [] } },
    ]) {
      expect(await chooseAttempt(env, { ...draft, ...change }), JSON.stringify(change)).toMatch(/^[0-9a-f]{12}$/);
    }
    // a manifest written before `snapshot` existed was a full one
    const manifestKey = layout.runManifest(MV, D);
    const { snapshot: _s, ...older } = first;
    await env.objects.put(manifestKey, JSON.stringify(older));
    expect(await chooseAttempt(env, { ...draft, snapshot: 'full' })).toBeUndefined();
    // the manifest under the published keys names another attempt: not the published run's
    await env.objects.put(manifestKey, JSON.stringify({ ...first, attempt: 'zzzzzzzzzzzz' }));
    expect(await chooseAttempt(env, draft)).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe('partitionSlice edges', () => {
  it('counts refused history rows as history, and logs the totals', async () => {
    const env = await freshEnv();
    const [H, D] = ['2026-06-01', '2026-06-02'];
    const tooLong = 'x'.repeat(MAX_USER_ID_BYTES + 1);
    await putDay(env, H, [
      [event('h1', H, 0), event(tooLong, H, 1), event('h2', H, 2, { action: 'bogus' as Event['action'] })],
    ]);
    await putDay(env, D, [[event('d1', D, 0)]]);
    await plan(env, { date: D, modelVersion: MV, partitions: 2, lookbackDays: 3, now: nowAfter(D) });
    const t0 = performance.now();
    const result = await partitionSlice(env, {
      date: D,
      modelVersion: MV,
      slice: 0,
      nowMs: Date.parse(`${D}T23:00:00Z`),
    });
    const elapsed = (performance.now() - t0) / 1000;
    expect(result).toMatchObject({ events: 1, invalidEvents: 0, historyEvents: 1, historyInvalidEvents: 2, routed: 2 });
    expect(result.invalidByReason).toEqual({ invalid_user_id: 1, unknown_action: 1 });
    expect(result.seconds).toBeGreaterThan(0);
    expect(result.seconds).toBeLessThanOrEqual(elapsed);
    expect(logs.get(env)!.at(-1)).toBe('slice 0: 2 events routed, 2 quarantined');
    const quarantine = await decodeParquet(await env.objects.get(result.quarantineKey!));
    const rows = [...(quarantine.columns.reason as string[])].map((r, i) => [
      r,
      Number((quarantine.columns.row as BigInt64Array)[i]),
    ]);
    expect(rows).toEqual([
      ['invalid_user_id', -1], // routing does not know the row number (the validator's rows do)
      ['unknown_action', 2],
    ]);
  });

  it('leaves no reason and no quarantine key on a clean slice', async () => {
    const env = await freshEnv();
    const D = '2026-06-05';
    await putDay(env, D, [[event('a', D, 0), event('b', D, 1)]]);
    await plan(env, { date: D, modelVersion: MV, partitions: 2, lookbackDays: 1, now: nowAfter(D) });
    const result = await partitionSlice(env, { date: D, modelVersion: MV, slice: 0 });
    expect(result.invalidByReason).toEqual({});
    expect(Object.keys(result)).not.toContain('quarantineKey');
  });

  it('finds a row repeated in another file of the same day, and judges the future by nowMs', async () => {
    const env = await freshEnv();
    const D = '2026-06-08';
    const late = event('c', D, 13 * 60); // 23:00
    await putDay(env, D, [
      [event('a', D, 0), event('b', D, 1)],
      [event('a', D, 0), late],
    ]);
    await plan(env, { date: D, modelVersion: MV, partitions: 2, lookbackDays: 1, now: nowAfter(D) });
    const early = await partitionSlice(env, {
      date: D,
      modelVersion: MV,
      slice: 0,
      nowMs: Date.parse(`${D}T12:00:00Z`),
    });
    expect(early.invalidByReason).toEqual({ duplicate_row: 1, ts_in_future: 1 });
    expect(early.events).toBe(2);
    const afterwards = await partitionSlice(env, { date: D, modelVersion: MV, slice: 0 }); // now: the machine's
    expect(afterwards.invalidByReason).toEqual({ duplicate_row: 1 });
    expect(afterwards.events).toBe(3);
  });

  it('fails on a file it cannot fetch, and quarantines an unreadable one without a log', async () => {
    const env = await freshEnv(true);
    const D = '2026-06-10';
    await putDay(env, D, [[event('a', D, 0)]]);
    await env.objects.put(`events/dt=${D}/part-1.parquet`, 'not parquet');
    await plan(env, { date: D, modelVersion: MV, partitions: 2, lookbackDays: 1, now: nowAfter(D) });
    const result = await partitionSlice(env, { date: D, modelVersion: MV, slice: 0 });
    expect(result.invalidByReason).toEqual({ unreadable_file: 1 });
    rmSync(join(env.objects.root, `events/dt=${D}/part-0.parquet`));
    await expect(partitionSlice(env, { date: D, modelVersion: MV, slice: 0 })).rejects.toBeInstanceOf(NotFoundError);
  });
});
