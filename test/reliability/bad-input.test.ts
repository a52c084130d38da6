/**
 * Bad input (docs/reliability.md, "Bad input"): one test per kind. Row-level kinds run the plan and
 * partition stages on a file holding valid rows plus the bad ones (fast, no inference); whole-run
 * kinds run the daily runner against an embedded table; bad models must fail before anything is
 * written. Expected: bad rows quarantined with their reason and counted; the run continues below
 * the invalid-row threshold and stops before publish above it; unusable files, NaN and collapsed
 * embeddings are never published.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayStartMs, EVENT_SCHEMA } from '../../src/events/schema.ts';
import { type ColumnInput, type ColumnSpec, decodeParquet, encodeParquet } from '../../src/io/parquet.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../../src/local/local-embeddings.ts';
import { handleLookup } from '../../src/lookup/handler.ts';
import { runDaily } from '../../src/pipeline/local-runner.ts';
import { deployModel } from '../../src/pipeline/model.ts';
import { partitionSlice } from '../../src/pipeline/partition.ts';
import { plan } from '../../src/pipeline/plan.ts';
import type { DailySummary, GateThresholds, PipelineEnv, SliceResult } from '../../src/pipeline/types.ts';
import { LocalObjectStore } from '../../src/storage/local-object-store.ts';
import { generateDataset } from '../../src/synth/generate.ts';
import { scanTable } from '../../src/testing/crash-harness.ts';
import { type NoteOutcome, TrialLog } from '../../src/testing/reliability-report.ts';
import { ModelError } from '../../src/util/errors.ts';

/** Whole daily runs on a loaded 2-core machine can take a while; the default 120 s is tight. */
const RUN_TIMEOUT_MS = 300_000;

const TINY = 'test/fixtures/models/tiny';
const FAULT_MODELS = 'test/fixtures/reliability/models';
const HOUR = 3_600_000;
const log = new TrialLog('bad-input');
const temps: string[] = [];

function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pf-bad-${label}-`));
  temps.push(dir);
  return dir;
}

/** One bad-input trial (case `input.<id>`), counted as failed when its body throws. */
function trial(id: string, description: string, body: (note: NoteOutcome) => Promise<void>): Promise<void> {
  return log.trial(`input.${id}`, description, body);
}

// ------------------------------------------------------------------------------------ event files

/** The event columns, every one nullable, so that malformed rows can be written. */
const LOOSE_SCHEMA: ColumnSpec[] = EVENT_SCHEMA.map((spec) => ({ ...spec, nullable: true }));

interface Row {
  user_id?: string | null;
  item_id?: string | null;
  action?: string | null;
  surface?: string | null;
  ts?: number | null;
  duration_ms?: number | null;
}

/** Valid rows for `users` users of `date` (items i0..i7, which the tiny model's item table knows). */
function validRows(date: string, users: number, perUser = 3, prefix = 'u'): Row[] {
  const start = dayStartMs(date);
  const rows: Row[] = [];
  for (let u = 0; u < users; u++) {
    for (let k = 0; k < perUser; k++) {
      rows.push({
        user_id: `${prefix}${u}`,
        item_id: `i${(u + k) % 8}`,
        action: ['view', 'click', 'save', 'closeup'][k % 4]!,
        surface: 'home',
        ts: start + HOUR * (1 + k) + u * 1000,
        duration_ms: 1500 * (k + 1),
      });
    }
  }
  return rows;
}

function encodeRows(rows: readonly Row[], schema: ColumnSpec[] = LOOSE_SCHEMA): Uint8Array {
  const columns: Record<string, ColumnInput> = {};
  for (const spec of schema) {
    const name = spec.name as keyof Row;
    columns[spec.name] =
      spec.type === 'int64'
        ? rows.map((r) => (r[name] == null ? null : BigInt(r[name] as number)))
        : rows.map((r) => (r[name] ?? null) as never);
  }
  return encodeParquet(schema, columns);
}

// ------------------------------------------------------------------------------ stage-level kinds

let stageEnv: PipelineEnv;
let stageLocal: LocalEmbeddings;
let stageModel: string;
let stageDay = 0;

/** A fresh date (10 days apart, so that a one-day look-back sees only its own files). */
function nextDate(): string {
  stageDay += 10;
  return new Date(Date.UTC(2026, 0, 1) + stageDay * 86_400_000).toISOString().slice(0, 10);
}

/** Writes the files for `date` and runs plan + the partition stage over them. */
async function sliceOf(date: string, files: Record<string, Uint8Array | string>, nowMs?: number) {
  for (const [name, body] of Object.entries(files)) await stageEnv.objects.put(`events/dt=${date}/${name}`, body);
  await plan(stageEnv, { date, modelVersion: stageModel, partitions: 2, lookbackDays: 1 });
  const slice: SliceResult = await partitionSlice(stageEnv, {
    date,
    modelVersion: stageModel,
    slice: 0,
    ...(nowMs === undefined ? {} : { nowMs }),
  });
  const quarantine = slice.quarantineKey
    ? await decodeParquet(await stageEnv.objects.get(slice.quarantineKey))
    : undefined;
  const reasons = (quarantine?.columns.reason ?? []) as string[];
  const values = ((quarantine?.columns.values ?? []) as string[]).map((v) => JSON.parse(v) as Record<string, unknown>);
  return { date, slice, reasons, values };
}

interface RowKind {
  readonly id: string;
  readonly description: string;
  readonly bad: (date: string) => Row[];
  readonly reason: string;
  readonly nowMs?: (date: string) => number;
  /** A raw value the quarantine must keep. */
  readonly keeps?: [string, unknown];
}

const ROW_KINDS: RowKind[] = [
  {
    id: 'missing-user-id',
    description: 'rows with a null or blank user_id',
    bad: (d) => [
      { ...validRows(d, 1)[0], user_id: null },
      { ...validRows(d, 1)[1], user_id: '   ' },
    ],
    reason: 'missing_user_id',
  },
  {
    id: 'missing-item-id',
    description: 'a row with a null item_id',
    bad: (d) => [{ ...validRows(d, 1)[0], item_id: null }],
    reason: 'missing_item_id',
  },
  {
    id: 'unknown-action',
    description: 'a row with an action outside the data model',
    bad: (d) => [{ ...validRows(d, 1)[0], action: 'like' }],
    reason: 'unknown_action',
    keeps: ['action', 'like'],
  },
  {
    id: 'missing-ts',
    description: 'a row with a null timestamp',
    bad: (d) => [{ ...validRows(d, 1)[0], ts: null }],
    reason: 'missing_ts',
  },
  {
    id: 'ts-outside-day',
    description: "a row whose timestamp lies in the previous day (not the file's dt=)",
    bad: (d) => [{ ...validRows(d, 1)[0], ts: dayStartMs(d) - 1 }],
    reason: 'ts_outside_day',
  },
  {
    id: 'ts-in-future',
    description: 'a row stamped after "now"',
    bad: (d) => [{ ...validRows(d, 1)[0], ts: dayStartMs(d) + 20 * HOUR }],
    nowMs: (d) => dayStartMs(d) + 12 * HOUR,
    reason: 'ts_in_future',
  },
  {
    id: 'negative-duration',
    description: 'a row with a negative duration',
    bad: (d) => [{ ...validRows(d, 1)[0], duration_ms: -5 }],
    reason: 'negative_duration',
    keeps: ['duration_ms', -5],
  },
  {
    id: 'absurd-duration',
    description: 'a row with a duration over one day',
    bad: (d) => [{ ...validRows(d, 1)[0], duration_ms: 2_000_000_000 }],
    reason: 'absurd_duration',
  },
  {
    id: 'duplicate-row',
    description: 'the same event twice',
    bad: (d) => [validRows(d, 20)[0]!],
    reason: 'duplicate_row',
  },
];

describe('bad rows: quarantined with their reason, counted, the valid rows routed', { timeout: RUN_TIMEOUT_MS }, () => {
  for (const kind of ROW_KINDS) {
    it(`${kind.id}: ${kind.description}`, () =>
      trial(`row.${kind.id}`, kind.description, async (note) => {
        // Prepare: 20 users x 3 valid rows, plus the bad rows
        const date = nextDate();
        const valid = validRows(date, 20);
        const bad = kind.bad(date);
        const body = encodeRows([...valid, ...bad]);

        // Act
        const { slice, reasons, values } = await sliceOf(date, { 'part-00000.parquet': body }, kind.nowMs?.(date));

        // Assess
        expect(slice.invalidEvents).toBe(bad.length);
        expect(slice.invalidByReason[kind.reason]).toBe(bad.length);
        expect(slice.events).toBe(valid.length);
        expect(slice.routed).toBe(valid.length);
        expect(reasons).toEqual(bad.map(() => kind.reason));
        if (kind.keeps) expect(values[0]![kind.keeps[0]]).toBe(kind.keeps[1]);
        note(`quarantined as ${kind.reason} (${bad.length} of ${valid.length + bad.length} rows), the rest routed`, {
          quarantined: bad.length,
          routed: slice.routed,
        });
      }));
  }

  it('wrong-column-type: a file whose ts column holds strings', () =>
    trial('row.wrong-column-type', 'a file whose ts column holds strings', async (note) => {
      const date = nextDate();
      const rows = validRows(date, 5);
      const schema = LOOSE_SCHEMA.map((c) => (c.name === 'ts' ? { ...c, type: 'utf8' as const } : c));
      const columns: Record<string, ColumnInput> = {};
      for (const spec of schema)
        columns[spec.name] = rows.map((r) =>
          spec.name === 'ts' ? String(r.ts) : ((r as Record<string, unknown>)[spec.name] ?? null),
        ) as never;
      const good = encodeRows(validRows(date, 5, 2, 'v'));

      const { slice, reasons } = await sliceOf(date, {
        'part-00000.parquet': encodeParquet(schema, columns),
        'part-00001.parquet': good,
      });

      expect(slice.invalidByReason.wrong_column_type).toBe(rows.length);
      expect(reasons.every((r) => r === 'wrong_column_type')).toBe(true);
      expect(slice.events).toBe(10);
      note(`every row of that file quarantined as wrong_column_type (${rows.length}); the other file routed`);
    }));
});

describe('bad files: refused as a whole, named in the quarantine, the other files still read', {
  timeout: RUN_TIMEOUT_MS,
}, () => {
  const fileKinds: { id: string; description: string; body: (date: string) => Uint8Array | string; reason: string }[] =
    [
      {
        id: 'corrupt-parquet',
        description: 'random bytes named .parquet',
        body: () => new Uint8Array(Array.from({ length: 600 }, (_, i) => (i * 7919) % 251)),
        reason: 'unreadable_file',
      },
      {
        id: 'truncated-parquet',
        description: 'a valid event file cut in half',
        body: (d) => encodeRows(validRows(d, 10)).slice(0, 300),
        reason: 'unreadable_file',
      },
      {
        id: 'missing-column',
        description: 'an event file without its item_id column',
        body: (d) =>
          encodeRows(
            validRows(d, 10),
            LOOSE_SCHEMA.filter((c) => c.name !== 'item_id'),
          ),
        reason: 'missing_column',
      },
    ];
  for (const kind of fileKinds) {
    it(`${kind.id}: ${kind.description}`, () =>
      trial(`file.${kind.id}`, kind.description, async (note) => {
        const date = nextDate();
        const good = encodeRows(validRows(date, 10));

        const { slice, reasons, values } = await sliceOf(date, {
          'part-00000.parquet': kind.body(date),
          'part-00001.parquet': good,
        });

        expect(slice.invalidByReason[kind.reason]).toBe(1);
        expect(reasons).toEqual([kind.reason]);
        expect(slice.events).toBe(30);
        expect(values).toHaveLength(1);
        note(
          `file quarantined as ${kind.reason}; the day's other file routed; the gate refuses the run (see input.file.run)`,
        );
      }));
  }
});

// ------------------------------------------------------------------------------- whole-run kinds

/** A data dir with `days` synthetic days of 120 users, and an in-memory table. */
async function runDir(label: string, days = 1): Promise<{ dir: string; local: LocalEmbeddings }> {
  const dir = tempDir(label);
  await generateDataset({ users: 120, days, seed: 17, start: '2026-10-01', out: dir });
  return { dir, local: await openLocalEmbeddings() };
}

function daily(
  dir: string,
  local: LocalEmbeddings,
  date: string,
  model = TINY,
  gate?: GateThresholds,
): Promise<DailySummary> {
  return runDaily({
    dataDir: dir,
    date,
    modelDir: model,
    partitions: 2,
    workers: 1,
    threads: 1,
    embeddings: local,
    ...(gate ? { gate } : {}),
  });
}

function putEvents(dir: string, date: string, name: string, body: Uint8Array | string): void {
  writeFileSync(join(eventFolder(dir, date), name), body);
}

function userIdsOf(items: readonly string[]): string[] {
  return items.map((i) => /"pk":\{"S":"u#[^#]+#(.+?)"\},"sk"/.exec(i)?.[1]).filter((u): u is string => u !== undefined);
}

describe('whole runs over bad input', { timeout: RUN_TIMEOUT_MS }, () => {
  it('invalid rows below the threshold: quarantined and counted, the run publishes', () =>
    trial('rows.below-threshold', '3 bad rows of 3 kinds in a day of synthetic events', async (note) => {
      const { dir, local } = await runDir('below');
      try {
        const date = '2026-10-01';
        putEvents(
          dir,
          date,
          'bad-00000.parquet',
          encodeRows([
            { ...validRows(date, 1)[0], action: 'like' },
            { ...validRows(date, 1)[1], user_id: null },
            { ...validRows(date, 1)[2], duration_ms: -1 },
          ]),
        );

        const summary = await daily(dir, local, date);

        expect(summary.published).toBe(true);
        expect(summary.invalidEvents).toBe(3);
        expect(summary.events).toBeGreaterThan(100);
        note(`published; invalidEvents ${summary.invalidEvents} of ${summary.events + summary.invalidEvents}`, {
          invalid: summary.invalidEvents,
          valid: summary.events,
        });
      } finally {
        await local.close();
      }
    }));

  it('invalid rows above the threshold: not published; a higher configured threshold lets it through', () =>
    trial(
      'rows.above-threshold',
      '200 bad rows in a day of valid events, against the default 5% threshold',
      async (note) => {
        const { dir, local } = await runDir('above');
        try {
          const date = '2026-10-01';
          const bad = Array.from({ length: 200 }, (_, k) => ({
            ...validRows(date, 1)[0],
            item_id: null,
            ts: dayStartMs(date) + k,
          }));
          putEvents(dir, date, 'bad-00000.parquet', encodeRows(bad));

          const refused = await daily(dir, local, date);
          const pointerAfterRefusal = await local.store.getPointer();
          const allowed = await daily(dir, local, date, TINY, { maxInvalidShare: 0.5 });

          expect(refused.published).toBe(false);
          expect(
            refused.reasons.some((r) =>
              /^invalid rows [\d.]+% > 5\.00% \(quarantined rows in this run: missing_item_id 200\)$/.test(r),
            ),
          ).toBe(true);
          expect(pointerAfterRefusal).toBeUndefined();
          expect(allowed.published).toBe(true);
          const share = refused.invalidEvents / (refused.invalidEvents + refused.events);
          note(
            `${(100 * share).toFixed(1)}% bad: refused before publish ("${refused.reasons.join('; ')}"); published with maxInvalidShare 0.5`,
            {
              invalidShare: Number(share.toFixed(4)),
            },
          );
        } finally {
          await local.close();
        }
      },
    ));

  it('unusable files in a day: the run is refused, nothing becomes visible', () =>
    trial('file.run', "a corrupt and a truncated parquet file among a day's files (whole run)", async (note) => {
      const { dir, local } = await runDir('files');
      try {
        const date = '2026-10-01';
        putEvents(dir, date, 'corrupt-00000.parquet', 'not parquet at all');
        putEvents(dir, date, 'truncated-00000.parquet', encodeRows(validRows(date, 10)).slice(0, 200));

        const summary = await daily(dir, local, date);

        expect(summary.published).toBe(false);
        expect(summary.reasons.join('\n')).toMatch(
          /^2 event files unusable \(unreadable_file 2\); each file and why: \S*quarantine\S*$/m,
        );
        expect(await local.store.getPointer()).toBeUndefined();
        const lookup = await handleLookup(local.store, { userId: 'u0' }, { pointerCacheMs: 0 });
        expect(lookup.statusCode).toBe(404);
        note(`not published: "${summary.reasons.join('; ')}"; no pointer, lookups 404`);
      } finally {
        await local.close();
      }
    }));

  it('an empty day: published, nobody re-embedded, every user keeps the previous embedding', () =>
    trial('day.empty', 'a day whose only event file has no rows', async (note) => {
      const { dir, local } = await runDir('empty');
      try {
        const day1 = '2026-10-01';
        const day2 = '2026-10-02';
        expect((await daily(dir, local, day1)).published).toBe(true);
        const users = userIdsOf(await scanTable(local.dynamo.client, local.tableName));
        const before = await handleLookup(local.store, { userIds: users.slice(0, 50) }, { pointerCacheMs: 0 });
        putEvents(dir, day2, 'part-00000.parquet', encodeRows([]));
        // (the directory must exist for the day to be planned)

        const summary = await daily(dir, local, day2);
        const after = await handleLookup(local.store, { userIds: users.slice(0, 50) }, { pointerCacheMs: 0 });

        expect(summary.published).toBe(true);
        expect(summary.events).toBe(0);
        expect(summary.embeddedUsers).toBe(0);
        expect((await local.store.getPointer())?.date).toBe(day2);
        const strip = (body: unknown) =>
          (body as { results: { version: string }[] }).results.map((r) => ({ ...r, version: '' }));
        expect(strip(after.body)).toEqual(strip(before.body));
        note(`published with 0 events, 0 embedded; ${users.length} users answer with their day-1 embeddings`);
      } finally {
        await local.close();
      }
    }));

  it('a day with events for only a few users: only they are re-embedded, the rest carried over', () =>
    trial('day.few-users', 'a day with events for 3 of the users', async (note) => {
      const { dir, local } = await runDir('few');
      try {
        const day1 = '2026-10-01';
        const day2 = '2026-10-02';
        expect((await daily(dir, local, day1)).published).toBe(true);
        const users = userIdsOf(await scanTable(local.dynamo.client, local.tableName));
        const few = users.slice(0, 3);
        const start = dayStartMs(day2);
        putEvents(
          dir,
          day2,
          'part-00000.parquet',
          encodeRows(
            few.map((user_id, k) => ({
              user_id,
              item_id: `i${k}`,
              action: 'save',
              surface: 'home',
              ts: start + HOUR * (k + 1),
              duration_ms: 1000,
            })),
          ),
        );

        const summary = await daily(dir, local, day2);
        const answers = (await handleLookup(local.store, { userIds: users.slice(0, 20) }, { pointerCacheMs: 0 }))
          .body as unknown as { results: { userId: string; date: string }[] };

        expect(summary.published).toBe(true);
        expect(summary.activeUsers).toBe(3);
        expect(summary.embeddedUsers).toBe(3);
        for (const r of answers.results) expect(r.date).toBe(few.includes(r.userId) ? day2 : day1);
        note(`published; 3 re-embedded; the other ${users.length - 3} answer from day 1`);
      } finally {
        await local.close();
      }
    }));

  it('a huge sequence: 20 000 events of one user in a day are truncated to the model length', () =>
    trial('sequence.huge', 'one user with 20 000 events in a day (model length 16)', async (note) => {
      const { dir, local } = await runDir('huge');
      try {
        const date = '2026-10-01';
        const start = dayStartMs(date);
        const rows: Row[] = Array.from({ length: 20_000 }, (_, k) => ({
          user_id: 'heavy-user',
          item_id: `i${k % 8}`,
          action: 'view',
          surface: 'home',
          ts: start + k * 4000,
          duration_ms: 100,
        }));
        putEvents(dir, date, 'heavy-00000.parquet', encodeRows(rows));

        const summary = await daily(dir, local, date);
        const answer = await handleLookup(local.store, { userId: 'heavy-user' }, { pointerCacheMs: 0 });

        expect(summary.published).toBe(true);
        expect(answer.statusCode).toBe(200);
        expect((answer.body as { dims: number }).dims).toBe(8);
        note(`published; the user embedded from the newest 16 events; ${summary.events} events routed`);
      } finally {
        await local.close();
      }
    }));

  it('unicode and long user ids: embedded and looked up unchanged; ids over the key limit quarantined', () =>
    trial(
      'user-id.unicode-long',
      'user ids in CJK, emoji ZWJ sequences, Arabic, combining marks, quotes, 500 bytes; one of 3000 bytes',
      async (note) => {
        const { dir, local } = await runDir('unicode');
        try {
          const date = '2026-10-01';
          const start = dayStartMs(date);
          const ids = [
            '用户-四十二',
            'ユーザー',
            '👩‍👩‍👧‍👦',
            'مستخدم',
            'e\u0301te\u0301',
            'o\'brien"; DROP TABLE--',
            'ß'.repeat(250),
            'u'.repeat(500),
          ];
          const tooLong = 'x'.repeat(3000);
          const rows: Row[] = [...ids, tooLong].map((user_id, k) => ({
            user_id,
            item_id: `i${k % 8}`,
            action: 'save',
            surface: 'home',
            ts: start + HOUR * (k + 1),
            duration_ms: 100,
          }));
          putEvents(dir, date, 'unicode-00000.parquet', encodeRows(rows));

          const summary = await daily(dir, local, date);
          const answers = await Promise.all(
            ids.map((userId) => handleLookup(local.store, { userId }, { pointerCacheMs: 0 })),
          );

          expect(summary.reasons).toEqual([]);
          expect(summary.published).toBe(true);
          expect(summary.invalidEvents).toBe(1);
          for (const [k, answer] of answers.entries()) {
            expect(answer.statusCode, ids[k]).toBe(200);
            expect((answer.body as { userId: string }).userId).toBe(ids[k]);
          }
          note('published; every id embedded and looked up byte-identical; the 3000-byte id quarantined', {
            ids: ids.length,
          });
        } finally {
          await local.close();
        }
      },
    ));
});

// ------------------------------------------------------------------------------------ bad models

describe('bad models fail before anything is written', { timeout: RUN_TIMEOUT_MS }, () => {
  /** A copy of the tiny model with one change. */
  function modelVariant(label: string, change: (dir: string) => void): string {
    const dir = join(tempDir(`model-${label}`), 'model');
    cpSync(TINY, dir, { recursive: true });
    change(dir);
    return dir;
  }
  interface ManifestJson {
    formatVersion: number;
    modelVersion: string;
    vocab?: unknown;
    dims: Record<string, number>;
    features: Record<string, unknown>;
  }
  const editManifest = (edit: (m: ManifestJson) => void) => (dir: string) => {
    const path = join(dir, 'manifest.json');
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as ManifestJson;
    edit(manifest);
    writeFileSync(path, JSON.stringify(manifest));
  };

  const models: { id: string; description: string; dir: () => string; message: RegExp }[] = [
    {
      id: 'missing-file',
      description: 'model directory without model.onnx',
      dir: () => modelVariant('missing', (d) => rmSync(join(d, 'model.onnx'))),
      message: /lacks model\.onnx/,
    },
    {
      id: 'missing-items',
      description: 'model directory without item_embeddings.parquet',
      dir: () => modelVariant('missing-items', (d) => rmSync(join(d, 'item_embeddings.parquet'))),
      message: /lacks item_embeddings\.parquet/,
    },
    {
      id: 'manifest-not-json',
      description: 'manifest.json that is not JSON',
      dir: () => modelVariant('notjson', (d) => writeFileSync(join(d, 'manifest.json'), '{"formatVersion": 1,')),
      message: /not valid JSON/,
    },
    {
      id: 'manifest-wrong',
      description: 'manifest with a wrong formatVersion and a missing vocabulary',
      dir: () =>
        modelVariant(
          'wrong',
          editManifest((m) => {
            m.formatVersion = 2;
            delete m.vocab;
          }),
        ),
      message: /manifest\.json is invalid: .*formatVersion.*vocab/,
    },
    {
      id: 'manifest-hash',
      description: 'manifest naming another model.onnx hash',
      dir: () =>
        modelVariant(
          'hash',
          editManifest((m) => {
            m.modelVersion = 'tiny-tiny-00000000';
          }),
        ),
      message: /hashes to/,
    },
    {
      id: 'dims-output',
      description: 'manifest dims.embedding 16, the graph outputs 8',
      dir: () =>
        modelVariant(
          'dims',
          editManifest((m) => {
            m.dims.embedding = 16;
          }),
        ),
      message: /8 values per user; manifest dims\.embedding is 16/,
    },
    {
      id: 'dims-items',
      description: 'manifest dims.itemVector 64, the graph takes 32',
      dir: () =>
        modelVariant(
          'itemdims',
          editManifest((m) => {
            m.dims.itemVector = 64;
          }),
        ),
      message: /item_vec has width 32; the manifest implies 64|64-d/,
    },
    {
      id: 'dims-time',
      description: 'manifest with 3 absolute periods, the graph takes 12',
      dir: () =>
        modelVariant(
          'time',
          editManifest((m) => {
            m.features.absPeriodsSec = [3600, 86400, 604800];
          }),
        ),
      message: /time_frac has width/,
    },
    {
      id: 'nan',
      description: 'a model whose output is NaN',
      dir: () => 'test/fixtures/models/nan',
      message: /not finite/,
    },
    {
      id: 'collapse',
      description: 'a model that outputs one constant vector',
      dir: () => 'test/fixtures/models/collapse',
      message: /collapsed/,
    },
  ];

  for (const model of models) {
    it(`${model.id}: ${model.description}`, () =>
      trial(`model.${model.id}`, model.description, async (note) => {
        const dir = tempDir(`run-${model.id}`);
        const date = '2026-10-01';
        writeFileSync(join(eventFolder(dir, date), 'part-00000.parquet'), encodeRows(validRows(date, 10)));
        const local = await openLocalEmbeddings();
        try {
          const failure = await daily(dir, local, date, model.dir()).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(failure).toBeInstanceOf(ModelError);
          expect(String((failure as Error).message)).toMatch(model.message);
          // nothing written: no model, no run, no table item
          expect(existsSync(join(dir, 'models'))).toBe(false);
          expect(existsSync(join(dir, 'runs'))).toBe(false);
          expect(await scanTable(local.dynamo.client, local.tableName)).toEqual([]);
          note(
            `ModelError before any write: "${String((failure as Error).message)
              .replace(/\/tmp\/\S+/g, '<dir>')
              .slice(0, 120)}"`,
          );
        } finally {
          await local.close();
        }
      }));
  }

  it('near-collapse on real data (passes the probe): the gate refuses to publish', () =>
    trial(
      'model.near-collapse',
      'a model whose users all get nearly one vector (passes the deploy probe)',
      async (note) => {
        const { dir, local } = await runDir('near-collapse');
        try {
          const summary = await daily(dir, local, '2026-10-01', `${FAULT_MODELS}/near-collapse`);
          expect(summary.published).toBe(false);
          expect(summary.reasons.some((r) => r.startsWith('collapse: the mean embedding has norm'))).toBe(true);
          expect(await local.store.getPointer()).toBeUndefined();
          note(`not published: "${summary.reasons.join('; ')}"`);
        } finally {
          await local.close();
        }
      },
    ));

  it('NaN on real data (passes the probe): stopped in the embed stage, no embedding written', () =>
    trial(
      'model.nan-on-data',
      'a model that outputs NaN only for known items (passes the deploy probe)',
      async (note) => {
        const { dir, local } = await runDir('nan-on-data');
        try {
          const summary = await daily(dir, local, '2026-10-01', `${FAULT_MODELS}/nan-on-data`);
          expect(summary.published).toBe(false);
          expect(summary.reasons.some((r) => /partition \d failed: .*not finite/.test(r))).toBe(true);
          expect(userIdsOf(await scanTable(local.dynamo.client, local.tableName))).toEqual([]);
          expect(await local.store.getPointer()).toBeUndefined();
          note(`not published, 0 embeddings written: "${summary.reasons[0]?.slice(0, 120)}"`);
        } finally {
          await local.close();
        }
      },
    ));
});

function eventFolder(dir: string, date: string): string {
  const folder = join(dir, 'events', `dt=${date}`);
  mkdirSync(folder, { recursive: true });
  return folder;
}

beforeAll(async () => {
  const dir = tempDir('stage');
  stageLocal = await openLocalEmbeddings();
  stageEnv = { objects: new LocalObjectStore(dir), embeddings: stageLocal.store };
  stageModel = (await deployModel(stageEnv, TINY)).modelVersion;
}, 120_000);

afterAll(async () => {
  await stageLocal?.close();
  await log.write();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});
