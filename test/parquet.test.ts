import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../src/events/errors.ts';
import {
  type ColumnSpec,
  decodeParquet,
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
