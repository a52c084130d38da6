/**
 * The embed stage's snapshot files (src/pipeline/snapshots.ts): the columnar encoder writes the
 * same bytes as the row encoder, the fast embedding decoder reads both the current writer settings
 * and files written before them, and pyarrow reads both snapshots with the documented types.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EVENT_SCHEMA } from '../src/events/schema.ts';
import { encodeParquet } from '../src/io/parquet.ts';
import {
  decodeEmbeddingSnapshot,
  decodeFlatEmbeddings,
  decodeSequenceSnapshot,
  decodeSequenceTable,
  encodeEmbeddingSnapshot,
  encodeFlatEmbeddings,
  encodeSequenceColumns,
  encodeSequenceSnapshot,
  SequenceColumnsBuilder,
  type UserSequence,
} from '../src/pipeline/snapshots.ts';
import { ValidationError } from '../src/util/errors.ts';

const PYTHON = join(process.cwd(), 'training/.venv/bin/python');
const dir = mkdtempSync(join(tmpdir(), 'pf-snapshots-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const users: UserSequence[] = [
  {
    userId: 'u1',
    lastEmbedded: '2026-01-02',
    events: [
      { item_id: 'i1', action: 'click', surface: 'home', ts: 1_767_225_600_000, duration_ms: 1500 },
      { item_id: 'i2', action: 'save', surface: null, ts: 1_767_225_660_000, duration_ms: null },
    ],
  },
  {
    userId: 'ü→𝄞',
    lastEmbedded: null,
    events: [{ item_id: 'é', action: 'click', surface: 'search', ts: 1, duration_ms: 0 }],
  },
  {
    userId: 'u3',
    lastEmbedded: '2026-01-01',
    events: Array.from({ length: 40 }, (_, t) => ({
      item_id: `i${t % 9}`,
      action: t % 2 ? 'click' : 'save',
      surface: t % 3 ? 'home' : null,
      ts: 1_767_000_000_000 + t * 1000,
      duration_ms: t % 4 ? t * 10 : null,
    })),
  },
];

describe('sequence snapshot', () => {
  it('writes the same bytes from carried columns as from event rows, and reads them back', async () => {
    // Prepare: the row encoder's file, decoded as the embed stage does, carried user by user
    const rows = encodeSequenceSnapshot(users);
    const table = await decodeSequenceTable(rows, 'rows.parquet');
    const builder = new SequenceColumnsBuilder();
    builder.carry(table, table.users[0]!);
    builder.add(users[1]!.userId, users[1]!.events);
    builder.carry(table, table.users[2]!);
    // Act
    const columns = encodeSequenceColumns(
      builder.build(),
      users.map((u) => u.lastEmbedded),
    );
    // Assess
    expect(Buffer.from(columns).equals(Buffer.from(rows))).toBe(true);
    expect(await decodeSequenceSnapshot(columns, 'columns.parquet')).toEqual(users);
  });

  it('reads snapshots written with the earlier writer settings (format 1, statistics, dictionaries)', async () => {
    // Prepare: the same columns through encodeParquet's defaults, as every snapshot was written before
    const rows = users.flatMap((u) => u.events.map((e) => ({ u, e })));
    const older = encodeParquet([...EVENT_SCHEMA, { name: 'last_embedded', type: 'utf8', nullable: true }], {
      user_id: rows.map(({ u }) => u.userId),
      item_id: rows.map(({ e }) => e.item_id),
      action: rows.map(({ e }) => e.action),
      surface: rows.map(({ e }) => e.surface),
      ts: rows.map(({ e }) => e.ts),
      duration_ms: rows.map(({ e }) => e.duration_ms),
      last_embedded: rows.map(({ u }) => u.lastEmbedded),
    });
    // Act / Assess
    expect(await decodeSequenceSnapshot(older, 'old.parquet')).toEqual(users);
    const table = await decodeSequenceTable(older, 'old.parquet');
    expect(table.users.map((r) => [r.userId, r.end - r.start, r.lastEmbedded])).toEqual(
      users.map((u) => [u.userId, u.events.length, u.lastEmbedded]),
    );
  });
});

describe('embedding snapshot', () => {
  const dims = 3;
  const ids = ['a', 'b', 'c', 'd'];
  const dates = ['2026-01-01', '2026-01-02', '2026-01-02', '2026-01-01'];
  const vectors = Float32Array.from({ length: ids.length * dims }, (_, i) => Math.fround(Math.sin(i) / 3));

  it('round-trips through the flat decoder, with the same bytes as the row encoder', async () => {
    // Act
    const bytes = encodeFlatEmbeddings(ids, dates, vectors, dims);
    const flat = await decodeFlatEmbeddings(bytes, 'e.parquet', dims);
    // Assess
    const rows = ids.map((userId, i) => ({
      userId,
      date: dates[i]!,
      embedding: vectors.slice(i * dims, (i + 1) * dims),
    }));
    expect(Buffer.from(encodeEmbeddingSnapshot(rows, dims)).equals(Buffer.from(bytes))).toBe(true);
    expect([...flat.index]).toEqual(ids.map((id, i) => [id, i]));
    expect(flat.dates).toEqual(dates);
    expect(Array.from(flat.vectors)).toEqual(Array.from(vectors));
    expect((await decodeEmbeddingSnapshot(bytes, 'e.parquet')).get('c')?.embedding).toEqual(vectors.slice(6, 9));
  });

  it('reads snapshots written with the earlier writer settings (dictionary pages, statistics)', async () => {
    // Prepare: encodeParquet's defaults are what every snapshot was written with before
    const older = encodeParquet(
      [
        { name: 'user_id', type: 'utf8' },
        { name: 'date', type: 'utf8' },
        { name: 'embedding', type: 'vector', width: dims },
      ],
      { user_id: ids, date: dates, embedding: vectors },
    );
    // Act
    const flat = await decodeFlatEmbeddings(older, 'old.parquet', dims);
    // Assess
    expect(Array.from(flat.vectors)).toEqual(Array.from(vectors));
    expect(flat.dates).toEqual(dates);
  });

  it('refuses a snapshot of another width with a ValidationError naming the file', async () => {
    const bytes = encodeFlatEmbeddings(ids, dates, vectors, dims);
    const error = await decodeFlatEmbeddings(bytes, 'e.parquet', 4).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/^e\.parquet: embedding row 0 has 3 values, expected 4/);
  });
});

describe('pyarrow', () => {
  it('reads both snapshots with the documented columns and types', () => {
    // Prepare
    const sequences = join(dir, 'sequences.parquet');
    const embeddings = join(dir, 'embeddings.parquet');
    writeFileSync(sequences, encodeSequenceSnapshot(users));
    writeFileSync(
      embeddings,
      encodeFlatEmbeddings(['a', 'b'], ['2026-01-01', '2026-01-02'], Float32Array.from([1, 2, 3, 4]), 2),
    );
    const script = `
import json, sys, pyarrow.parquet as pq
s = pq.read_table(sys.argv[1]); e = pq.read_table(sys.argv[2])
print(json.dumps({
  'seq_types': {f.name: str(f.type) for f in s.schema},
  'seq': {name: s.column(name).to_pylist() for name in ['user_id', 'surface', 'duration_ms', 'last_embedded']},
  'seq_ts': s.column('ts').to_pylist()[:2],
  'emb_types': {f.name: str(f.type) for f in e.schema},
  'emb': e.to_pylist(),
}))
`;
    // Act
    const out = JSON.parse(execFileSync(PYTHON, ['-c', script, sequences, embeddings], { encoding: 'utf8' }));
    // Assess
    const expanded = users.flatMap((u) => u.events.map((e) => ({ u, e })));
    expect(out.seq_types).toEqual({
      user_id: 'string',
      item_id: 'string',
      action: 'string',
      surface: 'string',
      ts: 'int64',
      duration_ms: 'int32',
      last_embedded: 'string',
    });
    expect(out.seq.user_id).toEqual(expanded.map(({ u }) => u.userId));
    expect(out.seq.last_embedded).toEqual(expanded.map(({ u }) => u.lastEmbedded));
    expect(out.seq.surface).toEqual(expanded.map(({ e }) => e.surface));
    expect(out.seq.duration_ms).toEqual(expanded.map(({ e }) => e.duration_ms));
    expect(out.seq_ts).toEqual([1_767_225_600_000, 1_767_225_660_000]);
    expect(out.emb_types).toEqual({
      user_id: 'string',
      date: 'string',
      embedding: 'fixed_size_list<item: float not null>[2]',
    });
    expect(out.emb).toEqual([
      { user_id: 'a', date: '2026-01-01', embedding: [1, 2] },
      { user_id: 'b', date: '2026-01-02', embedding: [3, 4] },
    ]);
  });
});
