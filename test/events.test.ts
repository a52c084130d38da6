import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../src/events/errors.ts';
import { decodeItems, encodeItems, readItemTable } from '../src/events/items.ts';
import { readEventDay, readEventFile } from '../src/events/read-events.ts';
import { dayStartMs, type Event, isPositive } from '../src/events/schema.ts';
import { QUARANTINE_REASONS } from '../src/events/validate.ts';
import { DailyEventWriter, encodeEvents } from '../src/events/write-events.ts';
import { encodeParquet } from '../src/io/parquet.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { fromPythonRows } from './events-helpers.ts';

const DATE = '2026-03-10';
const DAY = dayStartMs(DATE);
const NOW = DAY + 12 * 3600_000; // noon of the file's day: the afternoon is "the future"
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pf-events-'));
  dirs.push(dir);
  return dir;
}

const good: Event = {
  userId: 'u1',
  itemId: 'i1',
  action: 'click',
  surface: 'home',
  ts: DAY + 1000,
  durationMs: 12_000,
};

/** A raw file with one row per bad kind (plus two good rows); nullable everything so bad rows fit. */
function rawFile(rows: Record<string, unknown>[]): Uint8Array {
  const col = (name: string) => rows.map((r) => (r[name] === undefined ? null : r[name]));
  return encodeParquet(
    [
      { name: 'user_id', type: 'utf8', nullable: true },
      { name: 'item_id', type: 'utf8', nullable: true },
      { name: 'action', type: 'utf8', nullable: true },
      { name: 'surface', type: 'utf8', nullable: true },
      { name: 'ts', type: 'int64', nullable: true },
      { name: 'duration_ms', type: 'int64', nullable: true },
    ],
    {
      user_id: col('user_id') as (string | null)[],
      item_id: col('item_id') as (string | null)[],
      action: col('action') as (string | null)[],
      surface: col('surface') as (string | null)[],
      ts: col('ts') as (number | null)[],
      duration_ms: col('duration_ms') as (number | null)[],
    },
  );
}

const base = { user_id: 'u1', item_id: 'i1', action: 'view', surface: 'home', ts: DAY + 5000, duration_ms: 100 };
/** Every row rule, each with a row that breaks only that rule. */
const badRows: Record<string, Record<string, unknown>> = {
  missing_user_id: { ...base, user_id: null },
  missing_item_id: { ...base, item_id: '  ' },
  unknown_action: { ...base, action: 'like' },
  missing_ts: { ...base, ts: null },
  ts_outside_day: { ...base, ts: DAY - 1 },
  ts_in_future: { ...base, ts: NOW + 1 },
  negative_duration: { ...base, duration_ms: -1 },
  absurd_duration: { ...base, duration_ms: 86_400_001 },
  duplicate_row: { ...base, duration_ms: 999 }, // same key as `base` (duration is not in the key)
};

describe('event validation', () => {
  it('quarantines each bad row with its documented reason and keeps the good ones', async () => {
    // Prepare
    const bytes = rawFile([base, ...Object.values(badRows), { ...base, item_id: 'i2', surface: '', ts: DAY }]);
    // Act
    const result = await readEventFile(bytes, { date: DATE, nowMs: NOW, file: 'f.parquet' });
    // Assess
    expect(result.rows).toBe(11);
    expect(result.valid).toEqual([
      { userId: 'u1', itemId: 'i1', action: 'view', surface: 'home', ts: DAY + 5000, durationMs: 100 },
      { userId: 'u1', itemId: 'i2', action: 'view', surface: null, ts: DAY, durationMs: 100 },
    ]);
    expect(result.quarantined.map((q) => q.reason)).toEqual(Object.keys(badRows));
    for (const reason of Object.keys(badRows)) expect(result.counts[reason as keyof typeof result.counts]).toBe(1);
    expect(result.quarantined[0]).toMatchObject({
      row: 1,
      file: 'f.parquet',
      values: { user_id: null, item_id: 'i1' },
    });
  });

  it('flags every non-null value of a wrongly typed column as wrong_column_type', async () => {
    // Prepare: user_id as integers, duration as doubles
    const bytes = encodeParquet(
      [
        { name: 'user_id', type: 'int64', nullable: true },
        { name: 'item_id', type: 'utf8' },
        { name: 'action', type: 'utf8' },
        { name: 'ts', type: 'int64' },
        { name: 'duration_ms', type: 'float64', nullable: true },
      ],
      {
        user_id: [7, null, 8],
        item_id: ['i1', 'i2', 'i3'],
        action: ['view', 'view', 'save'],
        ts: [DAY, DAY, DAY],
        duration_ms: [null, null, 1.5],
      },
    );
    // Act
    const result = await readEventFile(bytes, { date: DATE, nowMs: NOW });
    // Assess
    expect(result.quarantined.map((q) => q.reason)).toEqual([
      'wrong_column_type',
      'missing_user_id',
      'wrong_column_type',
    ]);
    expect(result.quarantined[0]!.values.user_id).toBe('7');
  });

  it('lists the reason codes in rule order', () => {
    expect(QUARANTINE_REASONS[0]).toBe('wrong_column_type');
    expect(QUARANTINE_REASONS.at(-1)).toBe('duplicate_row');
    expect(new Set(QUARANTINE_REASONS).size).toBe(QUARANTINE_REASONS.length);
  });

  it('throws DataError for a missing required column, a corrupt file and a truncated file', async () => {
    // Prepare
    const noTs = encodeParquet([{ name: 'user_id', type: 'utf8' }], { user_id: ['u1'] });
    const valid = encodeEvents([good]);
    const truncated = valid.subarray(0, valid.length - 10);
    const corrupt = valid.slice();
    corrupt.fill(0, 4, valid.length - 8); // magic intact, everything else zero
    // Act / Assess
    await expect(readEventFile(noTs, { date: DATE })).rejects.toMatchObject({
      reason: 'missing_column',
      code: 'VALIDATION',
    });
    for (const bytes of [truncated, corrupt]) {
      const error = await readEventFile(bytes, { date: DATE, file: 'bad.parquet' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DataError);
      expect(error).toMatchObject({ reason: 'unreadable_file' });
    }
  });

  it('accepts files without the optional columns and a timestamp[ms] ts written by pyarrow-like schemas', async () => {
    // Prepare
    const bytes = encodeParquet(
      [
        { name: 'user_id', type: 'utf8' },
        { name: 'item_id', type: 'utf8' },
        { name: 'action', type: 'utf8' },
        { name: 'ts', type: 'int32' }, // any integer width is accepted
      ],
      { user_id: ['u1'], item_id: ['i1'], action: ['save'], ts: [5] },
    );
    // Act
    const result = await readEventFile(bytes, { date: '1970-01-01', nowMs: NOW });
    // Assess
    expect(result.valid).toEqual([
      { userId: 'u1', itemId: 'i1', action: 'save', surface: null, ts: 5, durationMs: null },
    ]);
  });
});

describe('TypeScript and Python readers', () => {
  it('quarantine the same rows for the same reasons', async () => {
    // Prepare: two files of one day, every bad kind, a duplicate across the files, a wrongly typed file
    const dir = tempDir();
    const store = new LocalObjectStore(dir);
    await store.put(`events/dt=${DATE}/a.parquet`, rawFile([base, ...Object.values(badRows)]));
    await store.put(
      `events/dt=${DATE}/b.parquet`,
      rawFile([
        { ...base, surface: '  ' },
        { ...base, item_id: 'i9' },
      ]),
    );
    await store.put(
      `events/dt=${DATE}/c.parquet`,
      encodeParquet(
        [
          { name: 'user_id', type: 'utf8' },
          { name: 'item_id', type: 'utf8' },
          { name: 'action', type: 'utf8' },
          { name: 'ts', type: 'float64' },
        ],
        { user_id: ['u1'], item_id: ['i1'], action: ['view'], ts: [DAY + 1] },
      ),
    );
    // Act
    const ts = await readEventDay(store, DATE, { nowMs: NOW });
    const script = `
import json, sys
from pinnerformer.events import read_event_day
table, report = read_event_day(sys.argv[1], sys.argv[2], now_ms=int(sys.argv[3]))
print(json.dumps({"counts": report.counts, "rows": table.to_pylist()}))
`;
    const py = JSON.parse(
      execFileSync(join(process.cwd(), 'training/.venv/bin/python'), ['-c', script, dir, DATE, String(NOW)], {
        cwd: join(process.cwd(), 'training'),
        encoding: 'utf8',
      }),
    );
    // Assess
    expect(ts.counts).toEqual({ ...Object.fromEntries(Object.keys(badRows).map((r) => [r, 1])), wrong_column_type: 1 });
    expect(py.counts).toEqual(ts.counts);
    expect(fromPythonRows(py.rows)).toEqual(ts.valid);
  });
});

describe('files written by pyarrow', () => {
  it('accept timestamp[ms], dictionary strings and small ints; reject timestamp[us] per row', async () => {
    // Prepare
    const dir = tempDir();
    const script = `
import os, sys, pyarrow as pa, pyarrow.parquet as pq
folder = os.path.join(sys.argv[1], 'events', 'dt=${DATE}')
os.makedirs(folder)
day = ${DAY}
pq.write_table(pa.table({
  'user_id': ['u1', 'u2'], 'item_id': ['i1', 'i2'],
  'action': pa.array(['view', 'save']).dictionary_encode(),
  'ts': pa.array([day + 5, day + 6], pa.timestamp('ms', tz='UTC')),
  'duration_ms': pa.array([1, None], pa.int16())}), os.path.join(folder, 'a.parquet'))
pq.write_table(pa.table({
  'user_id': ['u3'], 'item_id': ['i3'], 'action': ['view'],
  'ts': pa.array([(day + 7) * 1000], pa.timestamp('us'))}), os.path.join(folder, 'b.parquet'))
`;
    execFileSync(join(process.cwd(), 'training/.venv/bin/python'), ['-c', script, dir]);
    // Act
    const day = await readEventDay(new LocalObjectStore(dir), DATE, { nowMs: NOW });
    // Assess
    expect(day.valid).toEqual([
      { userId: 'u1', itemId: 'i1', action: 'view', surface: null, ts: DAY + 5, durationMs: 1 },
      { userId: 'u2', itemId: 'i2', action: 'save', surface: null, ts: DAY + 6, durationMs: null },
    ]);
    expect(day.counts).toEqual({ wrong_column_type: 1 });
  });
});

describe('writing and reading a day', () => {
  it('splits a day into bounded files and detects duplicates across the files of a day', async () => {
    // Prepare
    const dir = tempDir();
    const store = new LocalObjectStore(dir);
    const writer = new DailyEventWriter({ sink: (k, b) => store.put(k, b), maxRowsPerFile: 3, maxBufferedRows: 4 });
    const events: Event[] = Array.from({ length: 7 }, (_, i) => ({ ...good, itemId: `i${i}`, ts: DAY + i }));
    events.push({ ...good, itemId: 'i0', ts: DAY }); // duplicate of the first, lands in a later file
    events.push({ ...good, ts: DAY + 86_400_000 }); // next day
    // Act
    for (const e of events) if (writer.add(e)) await writer.flushFull();
    const summary = await writer.close();
    const day = await readEventDay(store, DATE, { nowMs: DAY + 3 * 86_400_000 });
    // Assess
    expect(summary.rows).toBe(9);
    expect(summary.rowsByDay).toEqual({ [DATE]: 8, '2026-03-11': 1 });
    expect(summary.files.length).toBeGreaterThanOrEqual(4);
    expect(day.files.length).toBe(summary.files.filter((f) => f.includes(DATE)).length);
    expect(day.rows).toBe(8);
    expect(day.valid.length).toBe(7);
    expect(day.counts).toEqual({ duplicate_row: 1 });
  });

  it('rejects durations that do not fit the int32 column', () => {
    expect(() => encodeEvents([{ ...good, durationMs: 2 ** 31 }])).toThrow(DataError);
  });

  it('classifies positives as documented', () => {
    expect(isPositive('save', null)).toBe(true);
    expect(isPositive('click', 10_000)).toBe(true);
    expect(isPositive('closeup', 9_999)).toBe(false);
    expect(isPositive('view', 60_000)).toBe(false);
    expect(isPositive('click', null)).toBe(false);
  });
});

describe('item table', () => {
  it('round-trips ids and fixed-width vectors and merges several files', async () => {
    // Prepare
    const dir = tempDir();
    const store = new LocalObjectStore(dir);
    const a = { itemIds: ['i1', 'i2'], vectors: Float32Array.from([1, 2, 3, 4, 5, 6]), dim: 3 };
    const b = { itemIds: ['i3'], vectors: Float32Array.from([7, 8, 9]), dim: 3 };
    await store.put('items/a.parquet', encodeItems(a));
    await store.put('items/b.parquet', encodeItems(b));
    // Act
    const table = await readItemTable(store);
    const one = await decodeItems(encodeItems(a));
    // Assess
    expect(one).toEqual(a);
    expect(table?.itemIds).toEqual(['i1', 'i2', 'i3']);
    expect(Array.from(table!.vectors)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await readItemTable(new LocalObjectStore(tempDir()))).toBeUndefined();
  });
});
