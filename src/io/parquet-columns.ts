/**
 * The column reader that whole-file and ranged decoding share: a file's column kinds from its
 * schema, and rows [rowStart, rowEnd) of the wanted columns. hyparquet reads column by column;
 * nullable flat columns and `list<float32>` vectors of a whole file are read page by page
 * (src/io/parquet-pages.ts: hyparquet's page decoding without its per-value list assembly, same
 * values, hyparquet itself for anything else).
 */
import { type AsyncBuffer, type FileMetaData, parquetRead } from 'hyparquet';
import { DataError } from '../events/errors.ts';
import { COMPRESSORS } from './codecs.ts';
import { optionalFlatColumn } from './parquet-pages.ts';

/**
 * What a column holds, from its parquet schema (physical + logical type). Validation uses this,
 * not the JS type of a value, so that TypeScript and Python agree on "wrong column type".
 */
export type ColumnKind =
  | 'utf8'
  | 'binary'
  | 'int'
  | 'float'
  | 'bool'
  | 'timestamp_ms'
  | 'timestamp_other'
  | 'list'
  | 'other';

/**
 * Decoded values of one column, in row order. hyparquet gives typed arrays for required numeric
 * columns (Int32Array, BigInt64Array, Float32Array, Float64Array) and plain arrays otherwise:
 * string | null for utf8, Uint8Array for binary, bigint for int64, number for int32/float,
 * Date for timestamps, number[] per row for list / vector columns.
 */
export type ColumnValues = unknown[] | Int32Array | BigInt64Array | Float32Array | Float64Array | Uint8Array;

export interface DecodedTable {
  readonly numRows: number;
  /** Column name -> values; only the requested columns that exist in the file. */
  readonly columns: Record<string, ColumnValues>;
  /** Kind of every top-level column of the file (also the ones not read). */
  readonly kinds: Record<string, ColumnKind>;
}

export interface DecodeOptions {
  /** Top-level columns to read; default all. Absent names are skipped (check `kinds`). */
  readonly columns?: readonly string[];
  /** Used in error messages. */
  readonly file?: string;
}

export interface SchemaElementLike {
  readonly name: string;
  readonly type?: string;
  readonly num_children?: number;
  readonly converted_type?: string;
  readonly logical_type?: { readonly type: string; readonly unit?: string };
}

export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) {
    return bytes.buffer;
  }
  // Uint8Array.prototype.slice copies even for a Node Buffer (whose own slice() is a view).
  return Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer;
}

export function unreadable(file: string | undefined, cause: unknown): DataError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new DataError(
    'unreadable_file',
    `unreadable parquet file${file ? ` ${file}` : ''}: ${why}`,
    { file },
    { cause },
  );
}

function kindOf(el: SchemaElementLike): ColumnKind {
  if (el.num_children !== undefined && el.num_children > 0) {
    return el.converted_type === 'LIST' || el.logical_type?.type === 'LIST' ? 'list' : 'other';
  }
  const logical = el.logical_type?.type;
  switch (el.type) {
    case 'BYTE_ARRAY':
      return logical === 'STRING' || el.converted_type === 'UTF8' || logical === 'ENUM' || el.converted_type === 'ENUM'
        ? 'utf8'
        : logical === undefined && el.converted_type === undefined
          ? 'binary'
          : 'other';
    case 'INT32':
    case 'INT64':
      if (logical === 'TIMESTAMP') return el.logical_type?.unit === 'MILLIS' ? 'timestamp_ms' : 'timestamp_other';
      if (el.converted_type === 'TIMESTAMP_MILLIS') return 'timestamp_ms';
      if (el.converted_type === 'TIMESTAMP_MICROS') return 'timestamp_other';
      if (logical === undefined || logical === 'INTEGER') {
        return el.converted_type === undefined || /^U?INT_/.test(el.converted_type) ? 'int' : 'other';
      }
      return 'other';
    case 'FLOAT':
    case 'DOUBLE':
      return 'float';
    case 'BOOLEAN':
      return 'bool';
    default:
      return 'other';
  }
}

export function topLevelKinds(schema: readonly SchemaElementLike[]): Record<string, ColumnKind> {
  const kinds: Record<string, ColumnKind> = {};
  // schema[0] is the root; walk its children, skipping each child's own subtree.
  let i = 1;
  const skip = (index: number): number => {
    const el = schema[index]!;
    let next = index + 1;
    for (let c = 0; c < (el.num_children ?? 0); c++) next = skip(next);
    return next;
  };
  while (i < schema.length) {
    const el = schema[i]!;
    kinds[el.name] = kindOf(el);
    i = skip(i);
  }
  return kinds;
}

export interface RangeDecodeOptions extends DecodeOptions {
  /** First row to read (default 0) and the row after the last (default: the end of the file). */
  readonly rowStart?: number;
  readonly rowEnd?: number;
}

/** Rows [rowStart, rowEnd) of the wanted columns of a parsed file; the rows asked for, clamped to the file. */
export async function decodeWith(
  file: ArrayBuffer | AsyncBuffer,
  metadata: FileMetaData,
  options: RangeDecodeOptions,
): Promise<DecodedTable> {
  const kinds = topLevelKinds(metadata.schema as SchemaElementLike[]);
  const wanted = (options.columns ?? Object.keys(kinds)).filter((name) => name in kinds);
  const fileRows = Number(metadata.num_rows);
  const rowStart = Math.min(Math.max(0, options.rowStart ?? 0), fileRows);
  const rowEnd = Math.min(Math.max(rowStart, options.rowEnd ?? fileRows), fileRows);
  const numRows = rowEnd - rowStart;
  const chunks = new Map<string, { rowStart: number; data: ArrayLike<unknown> }[]>();
  for (const name of wanted) chunks.set(name, []);
  const hasBinary = wanted.some((name) => kinds[name] === 'binary');
  let viaHyparquet = wanted;
  if (file instanceof ArrayBuffer && numRows === fileRows && numRows > 0) {
    viaHyparquet = [];
    for (const name of wanted) {
      const values = optionalFlatColumn(file, metadata, name, !hasBinary);
      if (values) chunks.get(name)!.push({ rowStart: 0, data: values });
      else viaHyparquet.push(name);
    }
  }
  if (viaHyparquet.length > 0 && numRows > 0) {
    await parquetRead({
      file,
      metadata,
      columns: viaHyparquet,
      rowStart,
      rowEnd,
      utf8: !hasBinary,
      compressors: COMPRESSORS,
      onChunk: (chunk) => {
        // hyparquet hands over whole row groups (or pages): keep only the rows asked for.
        const from = Math.max(chunk.rowStart, rowStart);
        const to = Math.min(chunk.rowEnd, rowEnd);
        if (to <= from) return;
        let data = chunk.columnData as ArrayLike<unknown>;
        if (from > chunk.rowStart || to < chunk.rowEnd) {
          const sliceable = data as ArrayLike<unknown> & { slice(a: number, b: number): ArrayLike<unknown> };
          data = sliceable.slice(from - chunk.rowStart, to - chunk.rowStart);
        }
        chunks.get(chunk.columnName)?.push({ rowStart: from - rowStart, data });
      },
    });
  }
  const columns: Record<string, ColumnValues> = {};
  for (const [name, parts] of chunks) {
    columns[name] = concatChunks(parts, numRows, name, options.file);
  }
  return { numRows, columns, kinds };
}

function concatChunks(
  parts: { rowStart: number; data: ArrayLike<unknown> }[],
  numRows: number,
  name: string,
  file: string | undefined,
): ColumnValues {
  parts.sort((a, b) => a.rowStart - b.rowStart);
  let expected = 0;
  for (const part of parts) {
    if (part.rowStart !== expected) throw unreadable(file, new Error(`column ${name}: gap at row ${expected}`));
    expected += part.data.length;
  }
  if (expected !== numRows) throw unreadable(file, new Error(`column ${name}: ${expected} values for ${numRows} rows`));
  if (parts.length === 1) return toColumnValues(parts[0]!.data);
  const first = parts[0]?.data;
  const typedCtor =
    first && ArrayBuffer.isView(first) ? (first.constructor as new (n: number) => TypedLike) : undefined;
  if (typedCtor && parts.every((p) => p.data.constructor === typedCtor)) {
    const out = new typedCtor(numRows);
    let at = 0;
    for (const part of parts) {
      out.set(part.data as TypedLike, at);
      at += part.data.length;
    }
    return out as unknown as ColumnValues;
  }
  const out: unknown[] = new Array(numRows);
  let at = 0;
  for (const part of parts) for (let i = 0; i < part.data.length; i++) out[at++] = part.data[i];
  return out;
}

type TypedLike = { set(array: ArrayLike<unknown>, offset: number): void; length: number };

function toColumnValues(data: ArrayLike<unknown>): ColumnValues {
  if (Array.isArray(data) || ArrayBuffer.isView(data)) return data as ColumnValues;
  return Array.from(data);
}
