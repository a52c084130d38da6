import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetRead } from 'hyparquet';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../src/events/errors.ts';
import {
  type ColumnSpec,
  decodeParquet,
  decodeVectorColumn,
  encodeParquet,
  flattenVectors,
  parquetColumnKinds,
} from '../src/io/parquet.ts';

const PYTHON = join(process.cwd(), 'training/.venv/bin/python');
const dir = mkdtempSync(join(tmpdir(), 'pf-parquet-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const schema: ColumnSpec[] = [
  { name: 's', type: 'utf8' },
  { name: 's_null', type: 'utf8', nullable: true },
  { name: 'i64', type: 'int64' },
  { name: 'i64_null', type: 'int64', nullable: true },
  { name: 'i32', type: 'int32' },
  { name: 'i32_null', type: 'int32', nullable: true },
  { name: 'f32', type: 'float32' },
  { name: 'f64', type: 'float64', nullable: true },
  { name: 'bin', type: 'binary', nullable: true },
  { name: 'flag', type: 'bool' },
  { name: 'vec', type: 'vector', width: 3 },
];

const columns = {
  s: ['a', 'ü→𝄞', ''],
  s_null: ['x', null, 'z'],
  i64: [1_700_000_000_000, 2n ** 62n, -5],
  i64_null: [null, 7n, 8],
  i32: Int32Array.from([1, -2, 3]),
  i32_null: [null, 2, null],
  f32: Float32Array.from([0.5, 1.5, -2]),
  f64: [1.25, null, 3.5],
  bin: [new Uint8Array([0, 255]), null, new Uint8Array([])],
  flag: [true, false, true],
  vec: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
};

describe('encodeParquet / decodeParquet', () => {
  it('round-trips every supported type through hyparquet', async () => {
    // Act
    const bytes = encodeParquet(schema, columns);
    const table = await decodeParquet(bytes);
    // Assess
    expect(table.numRows).toBe(3);
    expect(Array.from(table.columns.s!)).toEqual(['a', 'ü→𝄞', '']);
    expect(Array.from(table.columns.s_null!)).toEqual(['x', null, 'z']);
    expect(Array.from(table.columns.i64!)).toEqual([1_700_000_000_000n, 2n ** 62n, -5n]);
    expect(Array.from(table.columns.i64_null!)).toEqual([null, 7n, 8n]);
    expect(Array.from(table.columns.i32!)).toEqual([1, -2, 3]);
    expect(Array.from(table.columns.i32_null!)).toEqual([null, 2, null]);
    expect(Array.from(table.columns.f32!)).toEqual([0.5, 1.5, -2]);
    expect(Array.from(table.columns.f64!)).toEqual([1.25, null, 3.5]);
    expect(Array.from(table.columns.bin!)).toEqual([new Uint8Array([0, 255]), null, new Uint8Array([])]);
    expect(Array.from(table.columns.flag!)).toEqual([true, false, true]);
    expect(Array.from(flattenVectors(table.columns.vec!, 3))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(table.kinds).toMatchObject({
      s: 'utf8',
      i64: 'int',
      f32: 'float',
      bin: 'binary',
      flag: 'bool',
      vec: 'list',
    });
  });

  it('reads only the requested columns, across several row groups', async () => {
    // Prepare
    const n = 1000;
    const ids = Array.from({ length: n }, (_, i) => `u${i}`);
    const bytes = encodeParquet(
      [
        { name: 'id', type: 'utf8' },
        { name: 'n', type: 'int64' },
      ],
      { id: ids, n: BigInt64Array.from(ids, (_, i) => BigInt(i)) },
      { rowGroupSize: 128 },
    );
    // Act
    const table = await decodeParquet(bytes, { columns: ['n', 'absent'] });
    // Assess
    expect(Object.keys(table.columns)).toEqual(['n']);
    expect(table.columns.n!.length).toBe(n);
    expect(table.columns.n![n - 1]).toBe(BigInt(n - 1));
  });

  it('rejects inconsistent input with DataError(invalid_input)', () => {
    expect(() =>
      encodeParquet(
        [
          { name: 'a', type: 'utf8' },
          { name: 'b', type: 'int32' },
        ],
        { a: ['x'], b: [1, 2] },
      ),
    ).toThrow(DataError);
    expect(() => encodeParquet([{ name: 'a', type: 'utf8' }], { a: [null] })).toThrow(/not nullable/);
    expect(() => encodeParquet([{ name: 'v', type: 'vector', width: 4 }], { v: new Float32Array(6) })).toThrow(
      /multiple of 4/,
    );
  });

  it('throws DataError(unreadable_file) for garbage, truncated and corrupted files', async () => {
    // Prepare
    const good = encodeParquet(schema, columns, { compression: 'uncompressed' });
    const truncated = good.subarray(0, Math.floor(good.length / 2));
    const badFooter = good.slice();
    badFooter.fill(0xab, good.length - 40, good.length - 8);
    // Act / Assess
    for (const bytes of [
      new TextEncoder().encode('user_id,item_id\nu1,i1\n'),
      truncated,
      badFooter,
      new Uint8Array(),
    ]) {
      const error = await decodeParquet(bytes, { file: 'x.parquet' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DataError);
      expect((error as DataError).reason).toBe('unreadable_file');
      expect((error as DataError).message).toContain('x.parquet');
    }
    expect(() => parquetColumnKinds(truncated)).toThrow(DataError);
  });

  it('writes files pyarrow reads, and reads files pyarrow writes', async () => {
    // Prepare
    const ours = join(dir, 'ours.parquet');
    const theirs = join(dir, 'theirs.parquet');
    writeFileSync(ours, encodeParquet(schema, columns));
    const script = `
import json, sys, pyarrow as pa, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
out = {'types': {f.name: str(f.type) for f in t.schema}, 'rows': t.num_rows}
out['s'] = t.column('s').to_pylist()
out['i64'] = [str(v) for v in t.column('i64').to_pylist()]
out['vec'] = t.column('vec').to_pylist()
out['s_null'] = t.column('s_null').to_pylist()
pq.write_table(pa.table({
  'user_id': pa.array(['u1', None, 'u3'], pa.string()),
  'ts': pa.array([1, 2, 3], pa.int64()),
  'dur': pa.array([None, 5, 6], pa.int32()),
  'emb': pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], pa.list_(pa.float32(), 2)),
  'when': pa.array([1000, 2000, 3000], pa.timestamp('ms')),
}), sys.argv[2], compression='snappy')
print(json.dumps(out))
`;
    // Act
    const out = JSON.parse(execFileSync(PYTHON, ['-c', script, ours, theirs], { encoding: 'utf8' }));
    const back = await decodeParquet(readFileSync(theirs));
    // Assess
    expect(out.rows).toBe(3);
    expect(out.s).toEqual(['a', 'ü→𝄞', '']);
    expect(out.s_null).toEqual(['x', null, 'z']);
    expect(out.i64).toEqual(['1700000000000', String(2n ** 62n), '-5']);
    expect(out.vec).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ]);
    expect(out.types).toMatchObject({ s: 'string', i64: 'int64', i32: 'int32', f32: 'float', f64: 'double' });
    expect(out.types.vec).toBe('fixed_size_list<item: float not null>[3]');
    expect(back.numRows).toBe(3);
    expect(Array.from(back.columns.user_id!)).toEqual(['u1', null, 'u3']);
    expect(Array.from(back.columns.ts!)).toEqual([1n, 2n, 3n]);
    expect(Array.from(back.columns.dur!)).toEqual([null, 5, 6]);
    expect(Array.from(flattenVectors(back.columns.emb!, 2))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.kinds).toMatchObject({ user_id: 'utf8', ts: 'int', dur: 'int', emb: 'list', when: 'timestamp_ms' });
  });
});

/** Per column chunk of the first row group: its encodings and whether it carries statistics. */
function chunkInfo(bytes: Uint8Array): Record<string, { encodings: string[]; statistics: boolean }> {
  const metadata = parquetMetadata(bytes.slice().buffer);
  const out: Record<string, { encodings: string[]; statistics: boolean }> = {};
  for (const column of metadata.row_groups[0]!.columns) {
    const meta = column.meta_data!;
    out[meta.path_in_schema.join('.')] = { encodings: [...meta.encodings], statistics: meta.statistics !== undefined };
  }
  return out;
}

describe('encode options: utf8 runs, statistics, dictionary', () => {
  const runSchema: ColumnSpec[] = [
    { name: 'user', type: 'utf8' },
    { name: 'last', type: 'utf8', nullable: true },
  ];

  it('writes a utf8 column given as runs with the same bytes as its expanded rows', () => {
    // Prepare: an empty run, non-ASCII values, a null run
    const values = ['u1', 'ü→𝄞', 'u3', 'u4'];
    const lengths = Int32Array.from([2, 0, 3, 1]);
    const last = ['2026-01-01', null, null, '2026-01-02'];
    const expand = <T>(v: readonly T[]): T[] => v.flatMap((x, k) => Array<T>(lengths[k]!).fill(x));
    // Act
    const runs = encodeParquet(runSchema, { user: { values, lengths }, last: { values: last, lengths } });
    const rows = encodeParquet(runSchema, { user: expand(values), last: expand(last) });
    // Assess
    expect(Buffer.from(runs).equals(Buffer.from(rows))).toBe(true);
  });

  it('rejects runs that do not describe a column', () => {
    const lengths = Int32Array.from([1, 1]);
    expect(() => encodeParquet(runSchema, { user: { values: ['a'], lengths }, last: [null, null] })).toThrow(
      /1 run values for 2 run lengths/,
    );
    expect(() =>
      encodeParquet(runSchema, { user: { values: ['a', 'b'], lengths: Int32Array.from([1, -1]) }, last: [] }),
    ).toThrow(/negative length/);
    expect(() => encodeParquet(runSchema, { user: { values: ['a', null], lengths }, last: [null, null] })).toThrow(
      /not nullable but row 1 is null/,
    );
    expect(() =>
      encodeParquet([{ name: 'n', type: 'int64' }], { n: { values: ['1'], lengths: Int32Array.from([1]) } }),
    ).toThrow(/runs are for utf8 columns only/);
  });

  it('leaves out statistics and dictionaries where asked, and the values stay the same', async () => {
    // Prepare
    const n = 500;
    const input = {
      id: Array.from({ length: n }, (_, i) => `u${i % 7}`),
      ts: BigInt64Array.from({ length: n }, (_, i) => BigInt(1_700_000_000_000 + i)),
      vec: Float32Array.from({ length: n * 2 }, (_, i) => i / 3),
    };
    const specs: ColumnSpec[] = [
      { name: 'id', type: 'utf8' },
      { name: 'ts', type: 'int64' },
      { name: 'vec', type: 'vector', width: 2 },
    ];
    // Act
    const plain = encodeParquet(specs, input);
    const tuned = encodeParquet(specs, input, { statistics: false, dictionaryColumns: { ts: false } });
    const noDictionary = encodeParquet(specs, input, { dictionary: false, dictionaryColumns: { id: true } });
    // Assess
    expect(chunkInfo(plain).ts).toEqual({ encodings: expect.arrayContaining(['RLE_DICTIONARY']), statistics: true });
    expect(chunkInfo(tuned).ts!.encodings).not.toContain('RLE_DICTIONARY');
    expect(chunkInfo(tuned).id).toEqual({ encodings: expect.arrayContaining(['RLE_DICTIONARY']), statistics: false });
    expect(chunkInfo(noDictionary).id!.encodings).toContain('RLE_DICTIONARY');
    expect(chunkInfo(noDictionary)['vec.list.item']!.encodings).not.toContain('RLE_DICTIONARY');
    for (const bytes of [tuned, noDictionary]) {
      const table = await decodeParquet(bytes);
      expect(Array.from(table.columns.id!)).toEqual(input.id);
      expect(Array.from(table.columns.ts!)).toEqual(Array.from(input.ts));
      expect(Array.from(flattenVectors(table.columns.vec!, 2))).toEqual(Array.from(input.vec));
    }
  });

  it('refuses dictionary overrides for unknown or vector columns (parquet-wasm would ignore them)', () => {
    const specs: ColumnSpec[] = [
      { name: 'id', type: 'utf8' },
      { name: 'vec', type: 'vector', width: 1 },
    ];
    const input = { id: ['a'], vec: Float32Array.from([1]) };
    expect(() => encodeParquet(specs, input, { dictionaryColumns: { nope: false } })).toThrow(/nope is not/);
    expect(() => encodeParquet(specs, input, { dictionaryColumns: { vec: false } })).toThrow(/vec is not/);
  });
});

describe("nullable columns (read page by page, without hyparquet's list assembly)", () => {
  /** hyparquet's own reading of whole columns, the reference. */
  async function hyparquetColumns(bytes: Uint8Array, names: string[]): Promise<Record<string, unknown[]>> {
    const out: Record<string, unknown[]> = Object.fromEntries(names.map((n) => [n, []]));
    await parquetRead({
      file: bytes.slice().buffer,
      columns: names,
      onChunk: (chunk) => {
        out[chunk.columnName]!.push(...Array.from(chunk.columnData as ArrayLike<unknown>));
      },
    });
    return out;
  }

  it('decode like hyparquet: nulls, dictionaries, several row groups, both page formats, pyarrow files', async () => {
    // Prepare
    const n = 700;
    const specs: ColumnSpec[] = [
      { name: 's', type: 'utf8', nullable: true },
      { name: 'i', type: 'int32', nullable: true },
      { name: 'l', type: 'int64', nullable: true },
      { name: 'f', type: 'float64', nullable: true },
      { name: 'none_null', type: 'utf8', nullable: true },
      { name: 'all_null', type: 'int32', nullable: true },
    ];
    const input = {
      s: Array.from({ length: n }, (_, i) => (i % 3 ? `v${i % 13}é` : null)),
      i: Array.from({ length: n }, (_, i) => (i % 4 ? i : null)),
      l: Array.from({ length: n }, (_, i) => (i % 5 ? BigInt(i) * 1_000_000_007n : null)),
      f: Array.from({ length: n }, (_, i) => (i % 6 ? i / 7 : null)),
      none_null: Array.from({ length: n }, (_, i) => `x${i % 3}`),
      all_null: Array.from({ length: n }, () => null),
    };
    const files = [
      encodeParquet(specs, input),
      encodeParquet(specs, input, { rowGroupSize: 128, dictionary: false, statistics: false }),
    ];
    const theirs = join(dir, 'nullable.parquet');
    execFileSync(PYTHON, [
      '-c',
      `import sys, pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.table({'s': pa.array([None, 'a', 'b', None] * 50), 'i': pa.array([1, None, 3, None] * 50, pa.int32())}),
  sys.argv[1], row_group_size=64, data_page_version='2.0')`,
      theirs,
    ]);
    files.push(new Uint8Array(readFileSync(theirs)));
    for (const bytes of files) {
      const names = Object.keys(parquetColumnKinds(bytes).kinds);
      // Act
      const table = await decodeParquet(bytes);
      // Assess
      const reference = await hyparquetColumns(bytes, names);
      for (const name of names) expect(Array.from(table.columns[name]!)).toEqual(reference[name]);
    }
    expect(Array.from((await decodeParquet(files[0]!)).columns.s!)).toEqual(input.s);
  });
});

describe('decodeVectorColumn', () => {
  const specs: ColumnSpec[] = [
    { name: 'id', type: 'utf8' },
    { name: 'vec', type: 'vector', width: 4 },
  ];
  const rows = 300;
  const input = {
    id: Array.from({ length: rows }, (_, i) => `u${i}`),
    // repeated values, so that the dictionary-encoded variant really uses its dictionary
    vec: Float32Array.from({ length: rows * 4 }, (_, i) => (i % 11) - 5.5),
  };

  it('equals the general decoder on dictionary and plain pages, over several row groups', async () => {
    for (const options of [{}, { dictionary: false, statistics: false }, { rowGroupSize: 64 }]) {
      // Prepare
      const bytes = encodeParquet(specs, input, options);
      // Act
      const flat = await decodeVectorColumn(bytes, 'vec', 4);
      // Assess
      expect(Array.from(flat)).toEqual(Array.from(input.vec));
      expect(Array.from(flat)).toEqual(Array.from(flattenVectors((await decodeParquet(bytes)).columns.vec!, 4)));
    }
  });

  it('reports a width that does not match, and a missing column, as DataError(invalid_input)', async () => {
    const bytes = encodeParquet(specs, input);
    await expect(decodeVectorColumn(bytes, 'vec', 3, 'x.parquet')).rejects.toThrow(
      /vec row 0 has 4 values, expected 3/,
    );
    await expect(decodeVectorColumn(bytes, 'other', 4, 'x.parquet')).rejects.toThrow(/x.parquet has no column other/);
    const empty = encodeParquet(specs, { id: [], vec: new Float32Array(0) });
    expect((await decodeVectorColumn(empty, 'vec', 4)).length).toBe(0);
  });

  it('throws DataError(unreadable_file) for a corrupted file', async () => {
    const bytes = encodeParquet(specs, input, { compression: 'uncompressed' });
    const vec = parquetMetadata(bytes.slice().buffer).row_groups[0]!.columns[1]!.meta_data!;
    const start = Number(vec.dictionary_page_offset ?? vec.data_page_offset);
    const broken = bytes.slice();
    broken.fill(0xab, start, start + 64); // the vector column's first page header, footer intact
    const error = await decodeVectorColumn(broken, 'vec', 4, 'x.parquet').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
  });

  it('reads pyarrow files: fixed-size lists, and variable lists through the general path', async () => {
    // Prepare
    const file = join(dir, 'vectors.parquet');
    const script = `
import sys, pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.table({
  'fixed': pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], pa.list_(pa.float32(), 2)),
  'ragged': pa.array([[1.0, 2.0], [3.0], [4.0, 5.0, 6.0]], pa.list_(pa.float32())),
  'nullable': pa.array([[1.0, 2.0], None, [5.0, 6.0]], pa.list_(pa.float32(), 2)),
}), sys.argv[1], compression='snappy', data_page_version='2.0')
`;
    execFileSync(PYTHON, ['-c', script, file]);
    const bytes = new Uint8Array(readFileSync(file));
    // Act / Assess
    expect(Array.from(await decodeVectorColumn(bytes, 'fixed', 2))).toEqual([1, 2, 3, 4, 5, 6]);
    await expect(decodeVectorColumn(bytes, 'ragged', 2)).rejects.toThrow(/ragged row 1 has 1 values, expected 2/);
    await expect(decodeVectorColumn(bytes, 'nullable', 2)).rejects.toThrow(/nullable row 1 has no values/);
  });
});
