/**
 * The shared corpus of odd event files (test/fixtures/make_odd_event_files.py): every codec,
 * page v2, several row groups, upper-case names, in-progress, hidden, marker, nested and
 * misplaced files. The TypeScript readers must list and read exactly what the corpus's
 * expected.json says; training/tests/test_event_corpus.py holds the Python reader to the same file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertDayComplete, classifyEventObjects, listEventDay, MissingMarkerError } from '../src/events/day-files.ts';
import { listEventDays, objectByteSource, readEventDay, readEventRows } from '../src/events/read-events.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { fromPythonRows } from './events-helpers.ts';

interface ExpectedDay {
  files: string[];
  ignored: [string, string][];
  marker: boolean;
  rows: Record<string, unknown>[];
}
interface Expected {
  now_ms: number;
  event_days: string[];
  days: Record<string, ExpectedDay>;
  outside: [string, string][];
}

const PYTHON = join(process.cwd(), 'training', '.venv', 'bin', 'python');
let dir: string;
let store: LocalObjectStore;
let expected: Expected;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pf-corpus-'));
  execFileSync(PYTHON, [join(process.cwd(), 'test', 'fixtures', 'make_odd_event_files.py'), dir]);
  expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
  store = new LocalObjectStore(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the odd-file corpus, read by the TypeScript readers', () => {
  it('lists each day folder as the contract says: data files, ignored files with reasons, marker', async () => {
    // Act
    const listing = classifyEventObjects(await store.list('events/'));
    // Assess
    expect([...listing.days.keys()]).toEqual(Object.keys(expected.days).sort());
    for (const [date, day] of Object.entries(expected.days)) {
      const got = listing.days.get(date)!;
      expect(got.files.map((f) => f.key)).toEqual(day.files);
      expect(got.ignored.map((f) => [f.key, f.reason])).toEqual(day.ignored);
      expect(got.marker).toBe(day.marker);
    }
    expect(listing.ignored.map((f) => [f.key, f.reason])).toEqual(expected.outside);
    expect(await listEventDays(store)).toEqual(expected.event_days);
  });

  it('reads every codec, page v2 and row-group file to the rows the corpus wrote, and reports the rest', async () => {
    for (const [date, day] of Object.entries(expected.days)) {
      // Act
      const result = await readEventDay(store, date, { nowMs: expected.now_ms });
      // Assess
      expect(result.valid).toEqual(fromPythonRows(day.rows));
      expect(result.counts).toEqual({});
      expect(result.files).toEqual(day.files);
      expect(result.ignored.map((f) => [f.key, f.reason])).toEqual(day.ignored);
    }
  });

  it('reads a row range of a compressed multi-group file as the partition stage does', async () => {
    // Prepare
    const day = expected.days['2026-03-01']!;
    const key = day.files.find((f) => f.endsWith('row-groups-gzip.parquet'))!;
    const size = (await store.list(key))[0]!.size;
    const all = fromPythonRows(day.rows).filter((r) => String(r.itemId).startsWith('i-groups-'));
    // Act
    const piece = await readEventRows(objectByteSource(store, key, size), [2, 4], {
      date: '2026-03-01',
      nowMs: expected.now_ms,
      file: key,
    });
    // Assess
    expect(Array.from(piece.userId)).toEqual(all.slice(2, 4).map((r) => r.userId));
    expect(Array.from(piece.ts)).toEqual(all.slice(2, 4).map((r) => r.ts));
  });

  it('refuses a day without _SUCCESS only when the marker is required, naming the day and the fix', async () => {
    // Prepare
    const withMarker = await listEventDay(store, '2026-03-01');
    const without = await listEventDay(store, '2026-03-03');
    // Act / Assess
    expect(() => assertDayComplete(withMarker, true)).not.toThrow();
    expect(() => assertDayComplete(without, false)).not.toThrow();
    expect(() => assertDayComplete(without, true)).toThrow(MissingMarkerError);
    expect(() => assertDayComplete(without, true)).toThrow(/events\/dt=2026-03-03\/ has no _SUCCESS marker/);
  });
});
