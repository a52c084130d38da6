/**
 * The column-wise reader (readEventColumns / validateEventColumns / DuplicateIndex) against the
 * row-at-a-time definition of the rules (checkRow + a Set of duplicateKey strings, what the
 * reader did before it went column-wise), on files with nulls, dictionary pages and several row
 * groups, written by us and by pyarrow.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEventColumns, readEventFile } from '../src/events/read-events.ts';
import {
  dayStartMs,
  EVENT_COLUMN_NAMES,
  EVENT_SCHEMA,
  type Event,
  type EventColumnName,
} from '../src/events/schema.ts';
import {
  ACCEPTED_KINDS,
  checkRow,
  DuplicateIndex,
  duplicateKey,
  QUARANTINE_REASONS,
  type QuarantineReason,
  VALID_ROW,
} from '../src/events/validate.ts';
import { decodeParquet, encodeParquet } from '../src/io/parquet.ts';

const PYTHON = join(process.cwd(), 'training/.venv/bin/python');
const DATE = '2026-03-10';
const DAY = dayStartMs(DATE);
const NOW = DAY + 20 * 3600_000;
const dir = mkdtempSync(join(tmpdir(), 'pf-columns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The rules one row at a time, as the reader applied them before it went column-wise. */
async function referenceRead(bytes: Uint8Array, seen: Set<string>) {
  const table = await decodeParquet(bytes, { columns: EVENT_COLUMN_NAMES });
  const wrongKind = new Set<EventColumnName>();
  for (const [name, accepted] of Object.entries(ACCEPTED_KINDS) as [EventColumnName, readonly string[]][]) {
    const kind = table.kinds[name];
    if (kind !== undefined && !accepted.includes(kind)) wrongKind.add(name);
  }
  const at = (name: string, i: number): unknown => table.columns[name]?.[i] ?? null;
  const valid: Event[] = [];
  const reasons: { row: number; reason: QuarantineReason }[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const raw = {
      user_id: at('user_id', i),
      item_id: at('item_id', i),
      action: at('action', i),
      surface: at('surface', i),
      ts: at('ts', i),
      duration_ms: at('duration_ms', i),
    };
    let result = checkRow(raw, DAY, NOW, wrongKind);
    if (typeof result !== 'string') {
      const key = duplicateKey(result);
      if (seen.has(key)) result = 'duplicate_row';
      else seen.add(key);
    }
    if (typeof result === 'string') reasons.push({ row: i, reason: result });
    else valid.push(result);
  }
  return { valid, reasons };
}

/** Seeded rows with every kind of defect, in proportions that exercise every rule. */
function randomRows(n: number, seed: number) {
  let state = seed >>> 0;
  const rand = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const pick = <T>(values: readonly T[]): T => values[Math.floor(rand() * values.length)]!;
  const rows: Record<EventColumnName, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    // few users, items and times: duplicates happen, within and across row groups
    rows.push({
      user_id: pick(['u1', 'u2', 'u3', 'u12', ' ', '', null, '\u00a0u4', 'ü5']),
      item_id: pick(['i1', 'i2', 'u1', '', null, 'i10']),
      action: pick(['view', 'save', 'click', 'closeup', 'hide', 'like', null]),
      surface: pick(['home', 'search', null, '', '  ', 'other']),
      ts: pick([DAY, DAY + 1, DAY + 2, DAY - 1, DAY + 86_400_000, NOW + 1, null]),
      duration_ms: pick([null, 0, 5, 12_000, -1, 86_400_001]),
    });
  }
  return rows;
}

function nullableEventFile(rows: readonly Record<EventColumnName, unknown>[], rowGroupSize: number): Uint8Array {
  const col = <T>(name: EventColumnName) => rows.map((r) => r[name] as T);
  return encodeParquet(
    EVENT_SCHEMA.map((spec) => ({ ...spec, nullable: true })),
    {
      user_id: col<string | null>('user_id'),
      item_id: col<string | null>('item_id'),
      action: col<string | null>('action'),
      surface: col<string | null>('surface'),
      ts: col<number | null>('ts'),
      duration_ms: col<number | null>('duration_ms'),
    },
    { rowGroupSize },
  );
}

/** Reads the files as one day both ways; returns the reasons met (so a test can check its data covers them). */
async function expectSameAsReference(files: readonly Uint8Array[]): Promise<Set<QuarantineReason>> {
  const seenIndex = new DuplicateIndex();
  const seenSet = new Set<string>();
  const met = new Set<QuarantineReason>();
  for (const bytes of files) {
    const reference = await referenceRead(bytes, seenSet);
    for (const r of reference.reasons) met.add(r.reason);
    const seenBefore = seenIndex.size;
    const result = await readEventFile(bytes, { date: DATE, nowMs: NOW, seen: seenIndex });
    expect(result.valid).toEqual(reference.valid);
    expect(result.quarantined.map((q) => ({ row: q.row, reason: q.reason }))).toEqual(reference.reasons);
    expect(seenIndex.size - seenBefore).toBe(reference.valid.length);
  }
  expect(seenIndex.size).toBe(seenSet.size);
  return met;
}

describe('column-wise reading', () => {
  it('agrees with the row-at-a-time rules on nulls, blanks, dictionary pages and several row groups', async () => {
    // Prepare: two files of one day (duplicates across them), small row groups
    const files = [nullableEventFile(randomRows(3000, 1), 257), nullableEventFile(randomRows(2000, 2), 1000)];
    // Act
    const met = await expectSameAsReference(files);
    // Assess: the data broke every row rule but the column-type one
    expect([...met].sort()).toEqual(QUARANTINE_REASONS.filter((r) => r !== 'wrong_column_type').sort());
  });

  it('agrees on files pyarrow writes: dictionary pages, row groups, timestamp[ms] and wrongly typed columns', async () => {
    // Prepare
    const rows = randomRows(4000, 3);
    const script = `
import json, sys, pyarrow as pa, pyarrow.parquet as pq
rows = json.load(open(sys.argv[1]))
col = lambda name: [r[name] for r in rows]
ts = pa.array(col('ts'), pa.int64()).cast(pa.timestamp('ms', tz='UTC'))
pq.write_table(pa.table({
  'user_id': pa.array(col('user_id'), pa.string()).dictionary_encode(),
  'item_id': pa.array(col('item_id'), pa.string()),
  'action': pa.array(col('action'), pa.string()).dictionary_encode(),
  'surface': pa.array(col('surface'), pa.string()),
  'ts': ts,
  'duration_ms': pa.array(col('duration_ms'), pa.int32()),
}), sys.argv[2], row_group_size=700, use_dictionary=True, data_page_size=1024)
pq.write_table(pa.table({
  'user_id': pa.array(col('user_id'), pa.string()),
  'item_id': pa.array(col('item_id'), pa.string()),
  'action': pa.array(col('action'), pa.string()),
  'ts': pa.array(col('ts'), pa.int64()),
  'duration_ms': pa.array([None if d is None else d + 0.5 for d in col('duration_ms')], pa.float64()),
}), sys.argv[3], row_group_size=1500, use_dictionary=False)
`;
    const input = join(dir, 'rows.json');
    const a = join(dir, 'a.parquet');
    const b = join(dir, 'b.parquet');
    execFileSync(PYTHON, ['-c', `import json,sys; json.dump(json.loads(sys.stdin.read()), open('${input}', 'w'))`], {
      input: JSON.stringify(rows),
    });
    execFileSync(PYTHON, ['-c', script, input, a, b]);
    const files = [new Uint8Array(readFileSync(a)), new Uint8Array(readFileSync(b))];
    // Act / Assess
    expect((await expectSameAsReference(files)).size).toBe(QUARANTINE_REASONS.length);
    const wrong = await readEventFile(files[1]!, { date: DATE, nowMs: NOW });
    expect(wrong.counts.wrong_column_type).toBeGreaterThan(0); // every non-null float duration
  });

  it('returns typed columns and one verdict per row', async () => {
    // Prepare
    const bytes = nullableEventFile(
      [
        { user_id: 'u1', item_id: 'i1', action: 'save', surface: ' ', ts: DAY + 7, duration_ms: null },
        { user_id: 'u1', item_id: 'i1', action: 'save', surface: null, ts: DAY + 7, duration_ms: 3 },
        { user_id: 'u2', item_id: 'i1', action: 'like', surface: 'home', ts: DAY + 8, duration_ms: 4 },
      ],
      2,
    );
    // Act
    const c = await readEventColumns(bytes, { date: DATE, nowMs: NOW, file: 'f' });
    // Assess: a blank surface is null, so row 1 repeats row 0
    expect(c.rows).toBe(3);
    expect(c.validRows).toBe(1);
    expect(Array.from(c.verdicts)).toEqual([
      VALID_ROW,
      1 + QUARANTINE_REASONS.indexOf('duplicate_row'),
      1 + QUARANTINE_REASONS.indexOf('unknown_action'),
    ]);
    expect(c.surface[0]).toBeNull();
    expect(c.ts[0]).toBe(DAY + 7);
    expect(Number.isNaN(c.durationMs[0]!)).toBe(true);
    expect(c.durationMs[1]).toBe(3);
    expect(c.quarantined.map((q) => [q.row, q.reason, q.file])).toEqual([
      [1, 'duplicate_row', 'f'],
      [2, 'unknown_action', 'f'],
    ]);
  });
});

describe('DuplicateIndex', () => {
  it('finds exactly the tuples a Set of key strings finds, across table growth', () => {
    // Prepare: 200k draws from a small space (many repeats), strings that only differ by field boundary
    const index = new DuplicateIndex();
    const set = new Set<string>();
    let state = 7;
    const next = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    const users = ['a', 'ab', '', 'b', 'ü', 'u1'];
    const items = ['b', '', 'ab', 'c', 'u1'];
    const surfaces = [null, 'home', '', 'x'];
    let agreed = 0;
    // Act
    for (let i = 0; i < 200_000; i++) {
      const u = users[next(users.length)]!;
      const it = items[next(items.length)]!;
      const a = next(5);
      const s = surfaces[next(surfaces.length)]!;
      const ts = DAY + next(2000) * (next(2) === 0 ? 1 : 4294967296);
      const key = `${u}\u0000${it}\u0000${a}\u0000${s ?? ''}\u0000${s === null ? 0 : 1}\u0000${ts}`;
      const fresh = !set.has(key);
      set.add(key);
      if (index.add(u, it, a, s, ts) === fresh) agreed++;
    }
    // Assess
    expect(agreed).toBe(200_000);
    expect(index.size).toBe(set.size);
  });
});
