/**
 * Whole-file parquet decoding: a file's column kinds (footer only), all its rows, or one vector
 * column as a flat Float32Array. Throws DataError('unreadable_file') for anything that is not a
 * readable parquet file. We read what pyarrow writes (test/parquet.test.ts).
 */
import { parquetMetadata } from 'hyparquet';
import { DataError } from '../events/errors.ts';
import {
  type ColumnKind,
  type ColumnValues,
  type DecodedTable,
  type DecodeOptions,
  decodeWith,
  type SchemaElementLike,
  toArrayBuffer,
  topLevelKinds,
  unreadable,
} from './parquet-columns.ts';
import { flatVectorColumn } from './parquet-pages.ts';

/** Top-level column kinds of a parquet file (reads only the footer). */
export function parquetColumnKinds(
  bytes: Uint8Array,
  file?: string,
): { numRows: number; kinds: Record<string, ColumnKind> } {
  try {
    const metadata = parquetMetadata(toArrayBuffer(bytes));
    return { numRows: Number(metadata.num_rows), kinds: topLevelKinds(metadata.schema as SchemaElementLike[]) };
  } catch (error) {
    throw unreadable(file, error);
  }
}

/**
 * Reads a whole parquet file column by column. Throws DataError('unreadable_file') for anything
 * that is not a readable parquet file (bad magic, truncated footer, corrupt pages).
 */
export async function decodeParquet(bytes: Uint8Array, options: DecodeOptions = {}): Promise<DecodedTable> {
  const file = toArrayBuffer(bytes);
  try {
    return await decodeWith(file, parquetMetadata(file), options);
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw unreadable(options.file, error);
  }
}

/** A vector column (one number[] or typed array per row) as one flat Float32Array [rows * width]. */
export function flattenVectors(values: ColumnValues, width: number, name = 'vector'): Float32Array {
  const out = new Float32Array(values.length * width);
  for (let i = 0; i < values.length; i++) {
    const row = (values as unknown[])[i] as ArrayLike<number> | null | undefined;
    if (!row || row.length !== width) {
      throw new DataError('invalid_input', `${name} row ${i} has ${row ? row.length : 'no'} values, expected ${width}`);
    }
    for (let j = 0; j < width; j++) out[i * width + j] = row[j]!;
  }
  return out;
}

/**
 * A required `list<float32>` column whose rows all hold exactly `width` values (what a `vector`
 * column is written as) as one flat Float32Array [rows * width], read page by page with
 * hyparquet's own page decoding but without building one JS array per row (hyparquet's list
 * assembly was most of the time of decoding an embedding snapshot). Files of another layout
 * (nullable or variable-length lists, other page kinds) and anything unexpected go through
 * decodeParquet + flattenVectors, so the result and the errors are the same either way.
 */
export async function decodeVectorColumn(
  bytes: Uint8Array,
  name: string,
  width: number,
  file?: string,
): Promise<Float32Array> {
  let fast: Float32Array | undefined;
  try {
    fast = flatVectorColumn(toArrayBuffer(bytes), name, width);
  } catch {
    fast = undefined; // the general path below reports what is wrong with the file
  }
  if (fast) return fast;
  const table = await decodeParquet(bytes, { columns: [name], ...(file === undefined ? {} : { file }) });
  const values = table.columns[name];
  if (values === undefined) throw new DataError('invalid_input', `${file ?? 'parquet file'} has no column ${name}`);
  return flattenVectors(values, width, name);
}
