/**
 * The plan and partition stages where a wrong answer is silent (issue 21, `make mutation`'s
 * `routing` module): which days and files a run reads, how they are sliced, which published state
 * it builds on, which attempt it writes under, and where each event is routed. A real temp-dir
 * object store and dynalite; no embedding (fast enough to run once per mutant).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_USER_ID_BYTES } from '../src/embeddings/embedding-item.ts';
import type { Event } from '../src/events/schema.ts';
import { decodeParquet } from '../src/io/parquet.ts';
import { partitionOf } from '../src/pipeline/hash.ts';
import { layout } from '../src/pipeline/layout.ts';
import { partitionSlice } from '../src/pipeline/partition.ts';
import {
  assertRunDateNotAhead,
  chooseAttempt,
  findPreviousSnapshot,
  PLAN_DEFAULTS,
  PLAN_OPTION_KEYS,
  plan,
  planOptionsOf,
  readRunManifest,
} from '../src/pipeline/plan.ts';
import { writtenKeys } from '../src/pipeline/state-chain.ts';
import type { PipelineEnv, RunManifest } from '../src/pipeline/types.ts';
import { EventsMissingError, NotFoundError, ValidationError } from '../src/util/errors.ts';
import { event, MV, putDay, routingFixture } from './routing-fixture.ts';

const { logs, freshEnv } = routingFixture('routing');

/** Records `date` as published (attempt as given) with a run manifest of `partitions`. */
async function publishedRun(
  env: PipelineEnv,
  date: string,
  partitions: number,
  options: { attempt?: string; modelVersion?: string; fingerprints?: Record<string, string> } = {},
): Promise<void> {
  const modelVersion = options.modelVersion ?? MV;
  const manifest = {
    version: `${modelVersion}@${date}`,
    date,
    modelVersion,
    partitions,
    ...(options.attempt === undefined ? {} : { attempt: options.attempt }),
    dayFingerprints: options.fingerprints ?? { [date]: `fp-${date}` },
  };
  await env.objects.put(layout.runManifest(modelVersion, date, options.attempt), JSON.stringify(manifest));
  const id = { modelVersion, date, ...(options.attempt === undefined ? {} : { attempt: options.attempt }) };
  await env.embeddings.recordVersion({ ...id, published: false });
  await env.embeddings.publishVersion(id, (await env.embeddings.getPointer())?.seq);
}

/** The state files a run writes (placeholders: the plan only checks that the chain's files exist). */
async function putStateFiles(env: PipelineEnv, run: RunManifest): Promise<void> {
  for (let partition = 0; partition < run.partitions; partition++) {
    const keys = writtenKeys(run, partition);
    await env.objects.put(keys.sequences, 'state');
    await env.objects.put(keys.embeddings, 'state');
  }
}

describe('run date and limits', () => {
  const now = Date.parse('2026-10-10T12:00:00Z');

  it('refuses a day that starts after now plus the tolerance, and only then', () => {
    // 2026-10-11 starts 12 h after `now`
    expect(() => assertRunDateNotAhead('2026-10-11', now, 12)).not.toThrow();
    expect(() => assertRunDateNotAhead('2026-10-11', now, 11)).toThrow(
      'run date 2026-10-11 is after today (2026-10-10 UTC): a daily run embeds a day that has begun; check --date (tolerance 11 h)',
    );
    expect(() => assertRunDateNotAhead('2026-10-10', now, 0)).not.toThrow();
    expect(() => assertRunDateNotAhead('2026-10-09', now, 48)).not.toThrow();
    for (const tolerance of [-1, 49, Number.NaN]) {
      expect(() => assertRunDateNotAhead('2026-10-09', now, tolerance)).toThrow(
        `futureToleranceHours must be in 0..48, got ${tolerance}`,
      );
    }
    expect(() => assertRunDateNotAhead('2026-02-30', now, 6)).toThrow(
      'invalid date "2026-02-30": expected an existing day as YYYY-MM-DD',
    );
  });

  it('defaults to a 6 h tolerance, 8 partitions and a 365-day look-back', () => {
    expect(PLAN_DEFAULTS).toMatchObject({ futureToleranceHours: 6, partitions: 8, lookbackDays: 365 });
  });

  it('passes the plan options that are set, and only those, to the plan (planOptionsOf)', () => {
    const source = {
      dataDir: '/tmp/x',
      workers: 3,
      partitions: 4,
      refreshAgeDays: undefined,
      requireMarker: false,
      replayFrom: '2026-10-01',
      writeSkipCosine: undefined,
    };
    const options = planOptionsOf(source);
    expect(options).toStrictEqual({ partitions: 4, requireMarker: false, replayFrom: '2026-10-01' });
    expect(Object.keys(planOptionsOf({}))).toEqual([]);
    const all = Object.fromEntries(PLAN_OPTION_KEYS.map((key, i) => [key, i]));
    expect(planOptionsOf(all)).toStrictEqual(all);
  });
});

describe('plan', () => {
  let env: PipelineEnv;
  beforeAll(async () => {
    env = await freshEnv();
  });

  it('refuses partitions, look-back and slice sizes outside their ranges, naming the value', async () => {
    await putDay(env, '2026-09-01', [[event('u1', '2026-09-01', 0)]]);
    const base = { date: '2026-09-01', modelVersion: MV, now: () => Date.parse('2026-09-02T00:00:00Z') };
    for (const [change, message] of [
      [{ partitions: 0 }, 'partitions must be an integer in 1..4096, got 0'],
      [{ partitions: 4097 }, 'partitions must be an integer in 1..4096, got 4097'],
      [{ partitions: 1.5 }, 'partitions must be an integer in 1..4096, got 1.5'],
      [{ lookbackDays: 3651 }, 'lookbackDays must be an integer in 1..3650, got 3651'],
      [{ sliceBytes: 0 }, 'sliceBytes must be an integer in 1..1099511627776, got 0'],
      [{ refreshAgeDays: 0 }, /^refreshAgeDays must be an integer in 1\.\.\d+, got 0$/],
    ] as const) {
      const refused = await plan(env, { ...base, ...change }).catch((e) => e);
      expect(refused).toBeInstanceOf(ValidationError);
      expect(refused.message).toMatch(message);
    }
    const edges = await plan(env, { ...base, partitions: 4096, lookbackDays: 3650, sliceBytes: 1 });
    expect(edges).toMatchObject({ partitions: 4096, lookbackDays: 3650 });
    const defaults = await plan(env, base);
    expect(defaults).toMatchObject({ partitions: 8, lookbackDays: 365, backfill: false });
    expect(await env.objects.list('runs/')).toHaveLength(1); // refusals wrote nothing; both runs the bare keys
  });

  it('refuses a day with no data file, telling a marker-only day from one still being written', async () => {
    const now = () => Date.parse('2026-09-20T00:00:00Z');
    await env.objects.put('events/dt=2026-09-10/_SUCCESS', '');
    await env.objects.put('events/dt=2026-09-11/part-0.parquet.inprogress', 'x');
    await env.objects.put('events/dt=2026-09-12/notes.txt', 'x');
    const [marker, writing, other, none] = await Promise.all(
      ['2026-09-10', '2026-09-11', '2026-09-12', '2026-09-13'].map((date) =>
        plan(env, { date, modelVersion: MV, now }).catch((e) => e),
      ),
    );
    expect(marker).toBeInstanceOf(NotFoundError);
    expect(marker).not.toBeInstanceOf(EventsMissingError);
    expect(marker.message).toBe(
      'no data file for 2026-09-10 in events/dt=2026-09-10/: only _SUCCESS. Data files are named *.parquet directly in the day folder (docs/data.md); write an empty one for a day without events',
    );
    expect(writing).toBeInstanceOf(EventsMissingError);
    expect(writing.message).toMatch(
      /^no data file for 2026-09-11 in events\/dt=2026-09-11\/: ignored events\/dt=2026-09-11\/part-0\.parquet\.inprogress \(in_progress\)\. /,
    );
    expect(other).not.toBeInstanceOf(EventsMissingError);
    expect(other.message).toMatch(/: ignored events\/dt=2026-09-12\/notes\.txt \(not_parquet\)\. /);
    expect(none).toBeInstanceOf(EventsMissingError);
    expect(none.message).toMatch(/^no events for 2026-09-13: nothing under events\/dt=2026-09-13\/ in /);
  });

  it('refuses a replay that starts after the run date, and a bad replay date', async () => {
    await putDay(env, '2026-08-05', [[event('u1', '2026-08-05', 0)]]);
    const input = { date: '2026-08-05', modelVersion: MV, now: () => Date.parse('2026-08-06T00:00:00Z') };
    await expect(plan(env, { ...input, replayFrom: '2026-08-06' })).rejects.toThrow(
      '--replay-from 2026-08-06 is after the run date 2026-08-05',
    );
    await expect(plan(env, { ...input, replayFrom: '2026-08-32' })).rejects.toBeInstanceOf(ValidationError);
    expect((await plan(env, { ...input, replayFrom: '2026-08-05' })).replayFrom).toBe('2026-08-05');
  });
});

describe('slicing and the look-back', () => {
  it('reads the look-back days inclusive, sorts files by key and fills each slice up to sliceBytes', async () => {
    const env = await freshEnv();
    const D = '2026-07-10';
    await putDay(env, '2026-07-07', [[event('old', '2026-07-07', 0)]]); // one day before the look-back
    await putDay(env, '2026-07-08', [[event('a', '2026-07-08', 0)]]); // the look-back's first day
    await putDay(env, D, [[event('b', D, 0)], [event('c', D, 1)], [event('d', D, 2)]]);
    await env.objects.put(`events/dt=${D}/_SUCCESS`, '');
    await env.objects.put(`events/dt=${D}/part-9.parquet.tmp`, 'x');
    const sizes = new Map((await env.objects.list('events/')).map((o) => [o.key, o.size]));
    const size = (day: string, i: number) => sizes.get(`events/dt=${day}/part-${i}.parquet`)!;
    // Act: slices of exactly two files' bytes
    const sliceBytes = size('2026-07-08', 0) + size(D, 0);
    const run = await plan(env, {
      date: D,
      modelVersion: MV,
      partitions: 3,
      lookbackDays: 2,
      sliceBytes,
      backfill: true,
      writeSkipCosine: 0.999,
      now: () => Date.parse(`${D}T12:00:00Z`),
    });
    // Assess
    expect(run.days).toEqual(['2026-07-08', D]);
    expect(run.slices.map((s) => s.files.map((f) => f.key))).toEqual([
      ['events/dt=2026-07-08/part-0.parquet', `events/dt=${D}/part-0.parquet`],
      [`events/dt=${D}/part-1.parquet`, `events/dt=${D}/part-2.parquet`],
    ]);
    expect(run.slices.map((s) => s.index)).toEqual([0, 1]);
    expect(run.slices[0]!.files[0]).toEqual({
      key: 'events/dt=2026-07-08/part-0.parquet',
      size: size('2026-07-08', 0),
      date: '2026-07-08',
    });
    expect(run.eventBytes).toBe(size(D, 0) + size(D, 1) + size(D, 2));
    expect(run).toMatchObject({ version: `${MV}@${D}`, partitions: 3, backfill: true, writeSkipCosine: 0.999 });
    expect(run.maxLength).toBeGreaterThan(0);
    expect(run.attempt).toBeUndefined();
    expect(run.ignoredFiles).toEqual([{ key: `events/dt=${D}/part-9.parquet.tmp`, reason: 'in_progress' }]);
    expect(Object.keys(run.dayFingerprints ?? {}).sort()).toEqual(['2026-07-08', D]);
    expect(run.inputChanges).toEqual([]);
    expect(await readRunManifest(env, MV, D)).toEqual(run);
    expect(logs.get(env)).toEqual([
      `plan ${MV}@${D}: 4 files in 2 slices, 3 partitions, full snapshot (no previous state)`,
      `ignored events/dt=${D}/part-9.parquet.tmp: in_progress (not read; docs/data.md, "Which files count")`,
    ]);
    // one byte less per slice: every file its own slice
    const tight = await plan(env, { date: D, modelVersion: MV, lookbackDays: 2, sliceBytes: sliceBytes - 1 });
    expect(tight.slices.map((s) => s.files.length)).toEqual([1, 1, 1, 1]);
  });

  it('refuses to read a run that was never planned', async () => {
    const env = await freshEnv();
    await expect(readRunManifest(env, MV, '2026-01-01')).rejects.toThrow(
      `run ${MV}@2026-01-01 has no manifest: run the plan stage first`,
    );
  });
});

describe('the state a run builds on', () => {
  it('is the newest published, visible run of the same model and partition count before the date', async () => {
    const env = await freshEnv();
    await publishedRun(env, '2026-06-01', 4, { fingerprints: { '2026-06-01': 'a', '2026-05-31': 'b' } });
    await publishedRun(env, '2026-06-02', 8);
    await publishedRun(env, '2026-06-03', 4, { attempt: 'abc123abc123' });
    await publishedRun(env, '2026-06-04', 4);
    await env.embeddings.recordVersion({ modelVersion: MV, date: '2026-06-05', published: false }); // refused
    await publishedRun(env, '2026-06-06', 4, { modelVersion: 'other-model' });
    await env.embeddings.rollback({ modelVersion: MV, date: '2026-06-03' }); // withdraws 06-04
    // Act / Assess
    expect(await findPreviousSnapshot(env, MV, '2026-06-07', 4)).toEqual({
      date: '2026-06-03',
      attempt: 'abc123abc123',
      dayFingerprints: { '2026-06-03': 'fp-2026-06-03' },
      state: { base: { date: '2026-06-03', attempt: 'abc123abc123' }, deltas: [] },
    });
    expect(await findPreviousSnapshot(env, MV, '2026-06-03', 4)).toEqual({
      date: '2026-06-01',
      dayFingerprints: { '2026-06-01': 'a', '2026-05-31': 'b' },
      state: { base: { date: '2026-06-01' }, deltas: [] },
    });
    expect(await findPreviousSnapshot(env, MV, '2026-06-07', 8)).toEqual({
      date: '2026-06-02',
      dayFingerprints: { '2026-06-02': 'fp-2026-06-02' },
      state: { base: { date: '2026-06-02' }, deltas: [] },
    });
    expect(await findPreviousSnapshot(env, MV, '2026-06-01', 4)).toBeUndefined();
    expect(await findPreviousSnapshot(env, MV, '2026-06-07', 2)).toBeUndefined();
    expect(await findPreviousSnapshot(env, 'other-model', '2026-06-07', 4)).toMatchObject({ date: '2026-06-06' });
  });

  it('skips a published date whose manifest is gone or is of another attempt', async () => {
    const env = await freshEnv();
    await publishedRun(env, '2026-06-01', 4);
    await publishedRun(env, '2026-06-02', 4, { attempt: 'aaaaaaaaaaaa' });
    // the published record says attempt aaaa…, but the manifest under it names another
    await env.objects.put(
      layout.runManifest(MV, '2026-06-02', 'aaaaaaaaaaaa'),
      JSON.stringify({ partitions: 4, attempt: 'bbbbbbbbbbbb' }),
    );
    await publishedRun(env, '2026-06-03', 4);
    rmSync(join(env.objects.root, layout.runManifest(MV, '2026-06-03')), { force: true });
    expect(await findPreviousSnapshot(env, MV, '2026-06-04', 4)).toMatchObject({ date: '2026-06-01' });
  });

  it('starts the day after it, with its fingerprints, and logs input that changed after use', async () => {
    const env = await freshEnv();
    await putDay(env, '2026-05-01', [[event('a', '2026-05-01', 0)]]);
    await putDay(env, '2026-05-02', [[event('b', '2026-05-02', 0)]]);
    await putDay(env, '2026-05-03', [[event('c', '2026-05-03', 0)]]);
    const now = () => Date.parse('2026-05-04T00:00:00Z');
    const first = await plan(env, { date: '2026-05-02', modelVersion: MV, partitions: 2, now });
    await putStateFiles(env, first);
    await env.embeddings.recordVersion({ modelVersion: MV, date: '2026-05-02', published: false });
    await env.embeddings.publishVersion({ modelVersion: MV, date: '2026-05-02' }, undefined);
    await putDay(env, '2026-05-01', [[event('a', '2026-05-01', 0)], [event('late', '2026-05-01', 1)]]);
    // Act
    const next = await plan(env, { date: '2026-05-03', modelVersion: MV, partitions: 2, now });
    // Assess
    expect(next.previousSnapshotDate).toBe('2026-05-02');
    expect(next.days).toEqual(['2026-05-03']);
    expect(next.dayFingerprints).toEqual({ ...first.dayFingerprints, '2026-05-03': expect.any(String) });
    expect((next.inputChanges ?? []).map((c) => c.day)).toEqual(['2026-05-01']);
    expect(logs.get(env)!.at(-1)).toMatch(
      /^input changed after it was used: dt=2026-05-01 \w+; the published state does not include it\. Replay: /,
    );
    // a replay from the changed day rebuilds from before it
    const replay = await plan(env, {
      date: '2026-05-03',
      modelVersion: MV,
      partitions: 2,
      now,
      replayFrom: '2026-05-01',
    });
    expect(replay.previousSnapshotDate).toBeUndefined();
    expect(replay.days).toEqual(['2026-05-01', '2026-05-02', '2026-05-03']);
  });
});

describe('the attempt a run writes under', () => {
  it('is the bare keys until the date is published, the published attempt for the same inputs, else a fresh id', async () => {
    const env = await freshEnv();
    const D = '2026-04-02';
    await putDay(env, D, [[event('a', D, 0)]]);
    const now = () => Date.parse('2026-04-03T00:00:00Z');
    const input = { date: D, modelVersion: MV, partitions: 2, now };
    const first = await plan(env, input);
    await putStateFiles(env, first);
    expect(first.attempt).toBeUndefined();
    expect(await env.objects.getIfExists(layout.latestAttempt(MV, D))).toBeUndefined();
    const { attempt: _a, createdAt: _c, inputChanges: _i, ignoredFiles: _f, ...draft } = first;
    expect(await chooseAttempt(env, draft)).toBeUndefined(); // recorded nowhere yet
    await env.embeddings.recordVersion({ modelVersion: MV, date: D, published: false });
    expect(await chooseAttempt(env, draft)).toBeUndefined(); // refused runs rewrite the bare keys
    await env.embeddings.publishVersion({ modelVersion: MV, date: D }, undefined);
    // Act / Assess: the same inputs finish the published attempt; other inputs write apart
    expect((await plan(env, input)).attempt).toBeUndefined();
    for (const change of [{ partitions: 3 }, { backfill: true }, { refreshAgeDays: 2 }, { lookbackDays: 9 }]) {
      const other = await plan(env, { ...input, ...change });
      expect(other.attempt).toMatch(/^[0-9a-f]{12}$/);
      expect(JSON.parse(Buffer.from((await env.objects.get(layout.latestAttempt(MV, D)))!).toString())).toEqual({
        attempt: other.attempt,
      });
      expect(await readRunManifest(env, MV, D)).toEqual(other);
      expect(logs.get(env)!.at(-1)).toBe(
        `plan ${MV}@${D} (attempt ${other.attempt}: ${D} is published; this rerun writes apart and replaces it only if it publishes): 1 files in 1 slices, ${other.partitions} partitions, full snapshot (no previous state)`,
      );
    }
    await putDay(env, D, [[event('a', D, 0)], [event('b', D, 1)]]);
    expect((await plan(env, input)).attempt).toMatch(/^[0-9a-f]{12}$/); // changed input
  });
});

describe('partitionSlice', () => {
  it('routes each valid event to its user partition, counts run day and history apart, quarantines the rest', async () => {
    // Prepare
    const env = await freshEnv();
    const D = '2026-03-02';
    const H = '2026-03-01';
    const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const tooLong = 'x'.repeat(MAX_USER_ID_BYTES + 1);
    await putDay(env, H, [users.slice(0, 4).map((u, i) => event(u, H, i))]);
    await putDay(env, D, [
      [
        ...users.flatMap((u, i) => [event(u, D, i), event(u, D, i + 30)]),
        event('bad-action', D, 50, { action: 'bogus' as Event['action'] }),
        event(tooLong, D, 51),
        event(tooLong, D, 52),
      ],
    ]);
    const run = await plan(env, {
      date: D,
      modelVersion: MV,
      partitions: 3,
      lookbackDays: 5,
      now: () => Date.parse(`${D}T23:00:00Z`),
    });
    expect(run.slices).toHaveLength(1);
    // Act
    const result = await partitionSlice(env, {
      date: D,
      modelVersion: MV,
      slice: 0,
      nowMs: Date.parse(`${D}T23:00:00Z`),
    });
    // Assess: counts
    expect(result).toMatchObject({
      slice: 0,
      events: 24,
      invalidEvents: 3,
      historyEvents: 4,
      historyInvalidEvents: 0,
      routed: 28,
      invalidByReason: { unknown_action: 1, invalid_user_id: 2 },
      byDay: { [H]: { valid: 4, invalid: 0 }, [D]: { valid: 24, invalid: 3 } },
      quarantineKey: layout.quarantine(MV, D, 0),
    });
    expect(result.seconds).toBeGreaterThan(0);
    const stored = JSON.parse(Buffer.from((await env.objects.get(layout.sliceResult(MV, D, 0)))!).toString('utf8'));
    expect(stored).toEqual(result);
    // every user's events in its partition's work file, in order, nobody else's
    for (let p = 0; p < 3; p++) {
      const work = await decodeParquet(await env.objects.get(layout.workFile(MV, D, p, 0)));
      const routedUsers = [...(work.columns.user_id as string[])];
      const expected = [
        ...users.slice(0, 4).filter((u) => partitionOf(u, 3) === p),
        ...users.filter((u) => partitionOf(u, 3) === p).flatMap((u) => [u, u]),
      ];
      expect(routedUsers).toEqual(expected);
    }
    // the quarantine names the reason and the refused id's values
    const quarantine = await decodeParquet(await env.objects.get(result.quarantineKey!));
    expect([...(quarantine.columns.reason as string[])]).toEqual([
      'invalid_user_id',
      'invalid_user_id',
      'unknown_action',
    ]);
    const refused = JSON.parse((quarantine.columns.values as string[])[0]!);
    expect(refused).toMatchObject({ userId: tooLong, action: 'view', surface: 'home', durationMs: 1000 });
    expect([...(quarantine.columns.file as string[])].every((f) => f === `events/dt=${D}/part-0.parquet`)).toBe(true);
    expect(logs.get(env)!.at(-1)).toBe('slice 0: 28 events routed, 3 quarantined');
  });

  it('writes an empty work file per partition, no quarantine, and refuses a slice the run does not have', async () => {
    const env = await freshEnv();
    const D = '2026-03-05';
    await putDay(env, D, [[event('solo', D, 0, { durationMs: null })]]);
    await plan(env, {
      date: D,
      modelVersion: MV,
      partitions: 4,
      lookbackDays: 1,
      now: () => Date.parse(`${D}T23:00:00Z`),
    });
    const result = await partitionSlice(env, { date: D, modelVersion: MV, slice: 0 });
    expect(result.quarantineKey).toBeUndefined();
    expect(result).toMatchObject({ events: 1, invalidEvents: 0, routed: 1, invalidByReason: {} });
    expect(await env.objects.list(`runs/${MV}/dt=${D}/slices/`)).toHaveLength(1); // the result only
    const rows = [];
    for (let p = 0; p < 4; p++) {
      const work = await decodeParquet(await env.objects.get(layout.workFile(MV, D, p, 0)));
      rows.push((work.columns.user_id as string[]).length);
      if (p === partitionOf('solo', 4)) expect([...(work.columns.duration_ms as unknown[])]).toEqual([null]);
    }
    expect(rows.sort()).toEqual([0, 0, 0, 1]);
    await expect(partitionSlice(env, { date: D, modelVersion: MV, slice: 1 })).rejects.toThrow(
      `run ${MV}@${D} has no slice 1 (it has 1)`,
    );
  });

  it('quarantines an unusable file by name and routes the other files of the slice', async () => {
    const env = await freshEnv();
    const D = '2026-03-07';
    await putDay(env, D, [[event('a', D, 0)]]);
    await env.objects.put(`events/dt=${D}/part-1.parquet`, 'not parquet');
    await plan(env, {
      date: D,
      modelVersion: MV,
      partitions: 2,
      lookbackDays: 1,
      now: () => Date.parse(`${D}T23:00:00Z`),
    });
    const result = await partitionSlice(env, { date: D, modelVersion: MV, slice: 0 });
    expect(result).toMatchObject({ events: 1, invalidEvents: 0, routed: 1, invalidByReason: { unreadable_file: 1 } });
    const quarantine = await decodeParquet(await env.objects.get(result.quarantineKey!));
    expect([...(quarantine.columns.file as string[])]).toEqual([`events/dt=${D}/part-1.parquet`]);
    expect([...(quarantine.columns.row as BigInt64Array)]).toEqual([-1n]);
    expect(logs.get(env)!.some((m) => m.startsWith(`slice 0: events/dt=${D}/part-1.parquet unusable: `))).toBe(true);
  });
});
