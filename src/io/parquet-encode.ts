/**
 * Parquet encoding: columns -> apache-arrow record batch (built directly from typed arrays, no row
 * objects) -> Arrow IPC stream -> parquet-wasm `writeParquet` (SNAPPY, one row group per
 * `rowGroupSize` rows; statistics and dictionaries per EncodeOptions). pyarrow reads what this
 * writes (test/parquet.test.ts).
 *
 * Streaming is done one level up: writers keep each file bounded (one file per user chunk and
 * day, or per `maxRowsPerFile` rows) instead of streaming inside one file.
 */
import * as arrow from 'apache-arrow';
import * as parquetWasm from 'parquet-wasm/node';
import { DataError } from '../events/errors.ts';

export type ParquetType = 'utf8' | 'binary' | 'int32' | 'int64' | 'float32' | 'float64' | 'bool' | 'vector';

export interface ColumnSpec {
  readonly name: string;
  readonly type: ParquetType;
  /** Whether the column may hold nulls; default false. A `vector` column is never nullable. */
  readonly nullable?: boolean;
  /** Width of a `vector` column (fixed_size_list<float32>[width]); required for vectors. */
  readonly width?: number;
}

/**
 * A utf8 column given as runs: `values[k]` repeated `lengths[k]` times, e.g. a per-user value over
 * the user's event rows. Each value is encoded to UTF-8 once and its bytes copied per row, instead
 * of a JS array with one entry per row encoded row by row.
 */
export interface Utf8Runs {
  readonly values: readonly (string | null)[];
  readonly lengths: Int32Array;
}

/** Inputs with one entry per row. */
type RowInput = Exclude<ColumnInput, Utf8Runs>;

function isRuns(values: ColumnInput): values is Utf8Runs {
  return !Array.isArray(values) && !ArrayBuffer.isView(values) && typeof values === 'object' && 'lengths' in values;
}

/**
 * Accepted input per type (nulls only in nullable columns):
 * - utf8: (string | null)[] or Utf8Runs; binary: (Uint8Array | null)[]; bool: (boolean | null)[]
 * - int32: Int32Array | (number | null)[]; int64: BigInt64Array | (bigint | number | null)[]
 * - float32 / float64: Float32Array / Float64Array | (number | null)[]
 * - vector: a flat Float32Array of numRows * width values, or one ArrayLike<number> per row
 */
export type ColumnInput =
  | Utf8Runs
  | readonly (string | null | undefined)[]
  | readonly (Uint8Array | null | undefined)[]
  | readonly (number | bigint | boolean | null | undefined)[]
  | readonly ArrayLike<number>[]
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

export interface EncodeOptions {
  /** Rows per row group; default 262144. */
  readonly rowGroupSize?: number;
  /** Compression; default 'snappy' (hyparquet and pyarrow both read it). */
  readonly compression?: 'snappy' | 'uncompressed';
  /**
   * Min/max statistics per column chunk and page; default true. Files that are only ever read
   * whole (the embed stage's snapshots) skip them: on string columns they were about half of
   * parquet-wasm's encode time, and no reader of those files filters on them.
   */
  readonly statistics?: boolean;
  /** Dictionary encoding for every column; default true. */
  readonly dictionary?: boolean;
  /**
   * Per top-level column overrides of `dictionary`: false for high-cardinality columns (event
   * timestamps, unique ids), where building a dictionary that overflows is wasted work; true to
   * keep it on a low-cardinality column when `dictionary` is false. Nested columns (vectors)
   * follow `dictionary`.
   */
  readonly dictionaryColumns?: Readonly<Record<string, boolean>>;
}

const DEFAULT_ROW_GROUP_SIZE = 262_144;

/** Encodes whole columns into one parquet file. Throws DataError('invalid_input') on bad input. */
export function encodeParquet(
  schema: readonly ColumnSpec[],
  columns: Readonly<Record<string, ColumnInput>>,
  options: EncodeOptions = {},
): Uint8Array {
  const numRows = rowCountOf(schema, columns);
  const fields: arrow.Field[] = [];
  const children: arrow.Data[] = [];
  for (const spec of schema) {
    const data = columnData(spec, columns[spec.name]!, numRows);
    fields.push(new arrow.Field(spec.name, data.type, spec.type !== 'vector' && (spec.nullable ?? false)));
    children.push(data);
  }
  const struct = arrow.makeData({ type: new arrow.Struct(fields), length: numRows, nullCount: 0, children });
  const batch = new arrow.RecordBatch(new arrow.Schema(fields), struct);
  const ipc = arrow.tableToIPC(new arrow.Table(batch), 'stream');
  return parquetWasm.writeParquet(parquetWasm.Table.fromIPCStream(ipc), writerProperties(schema, options));
}

function writerProperties(schema: readonly ColumnSpec[], options: EncodeOptions): parquetWasm.WriterProperties {
  let builder = new parquetWasm.WriterPropertiesBuilder()
    .setCompression(
      options.compression === 'uncompressed' ? parquetWasm.Compression.UNCOMPRESSED : parquetWasm.Compression.SNAPPY,
    )
    .setMaxRowGroupSize(options.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE)
    .setCreatedBy('pinnerformer');
  if (options.statistics === false) builder = builder.setStatisticsEnabled(parquetWasm.EnabledStatistics.None);
  if (options.dictionary === false) builder = builder.setDictionaryEnabled(false);
  for (const [name, enabled] of Object.entries(options.dictionaryColumns ?? {})) {
    const spec = schema.find((s) => s.name === name);
    // parquet-wasm names a column by its leaf path: an unknown or nested name would be ignored silently
    if (!spec || spec.type === 'vector') {
      throw new DataError('invalid_input', `dictionaryColumns: ${name} is not a top-level non-vector column`);
    }
    builder = builder.setColumnDictionaryEnabled(name, enabled);
  }
  return builder.build();
}

function rowCountOf(schema: readonly ColumnSpec[], columns: Readonly<Record<string, ColumnInput>>): number {
  let numRows: number | undefined;
  for (const spec of schema) {
    const values = columns[spec.name];
    if (values === undefined) throw new DataError('invalid_input', `column ${spec.name} has no values`);
    let rows: number;
    if (isRuns(values)) {
      if (spec.type !== 'utf8')
        throw new DataError('invalid_input', `column ${spec.name}: runs are for utf8 columns only`);
      rows = runRows(spec, values);
    } else {
      rows = values.length;
    }
    if (spec.type === 'vector') {
      const width = vectorWidth(spec);
      if (values instanceof Float32Array) {
        if (values.length % width !== 0) {
          throw new DataError(
            'invalid_input',
            `vector column ${spec.name}: ${values.length} values is not a multiple of ${width}`,
          );
        }
        rows = values.length / width;
      }
    }
    if (numRows !== undefined && rows !== numRows) {
      throw new DataError('invalid_input', `column ${spec.name} has ${rows} rows, expected ${numRows}`);
    }
    numRows = rows;
  }
  if (numRows === undefined) throw new DataError('invalid_input', 'a parquet table needs at least one column');
  return numRows;
}

function vectorWidth(spec: ColumnSpec): number {
  const width = spec.width;
  if (width === undefined || !Number.isInteger(width) || width < 1) {
    throw new DataError('invalid_input', `vector column ${spec.name} needs a positive integer width`);
  }
  return width;
}

/** Validity bitmap (arrow: bit set = valid) or undefined when nothing is null. */
function nullBitmapOf(spec: ColumnSpec, values: ArrayLike<unknown>): { bitmap?: Uint8Array; nullCount: number } {
  if (ArrayBuffer.isView(values)) return { nullCount: 0 };
  let nullCount = 0;
  let bitmap: Uint8Array | undefined;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      if (!spec.nullable)
        throw new DataError('invalid_input', `column ${spec.name} is not nullable but row ${i} is null`);
      if (!bitmap) {
        bitmap = new Uint8Array((values.length + 7) >> 3).fill(0xff);
      }
      bitmap[i >> 3]! &= ~(1 << (i & 7));
      nullCount++;
    }
  }
  return { bitmap, nullCount };
}

function runRows(spec: ColumnSpec, runs: Utf8Runs): number {
  if (runs.values.length !== runs.lengths.length) {
    throw new DataError(
      'invalid_input',
      `column ${spec.name}: ${runs.values.length} run values for ${runs.lengths.length} run lengths`,
    );
  }
  let rows = 0;
  for (let k = 0; k < runs.lengths.length; k++) {
    const n = runs.lengths[k]!;
    if (n < 0) throw new DataError('invalid_input', `column ${spec.name}: run ${k} has a negative length`);
    rows += n;
  }
  return rows;
}

function columnData(spec: ColumnSpec, values: ColumnInput, numRows: number): arrow.Data {
  if (spec.type === 'vector') return vectorData(spec, values, numRows);
  if (isRuns(values)) return utf8RunsData(spec, values, numRows);
  const { bitmap, nullCount } = nullBitmapOf(spec, values);
  const base = { length: numRows, nullCount, nullBitmap: bitmap };
  switch (spec.type) {
    case 'utf8':
      return utf8Data(spec, values as readonly (string | null)[], base);
    case 'binary':
      return binaryData(spec, values as readonly (Uint8Array | null)[], base);
    case 'int32':
      return arrow.makeData({ type: new arrow.Int32(), ...base, data: toTyped(Int32Array, values, spec) });
    case 'float32':
      return arrow.makeData({ type: new arrow.Float32(), ...base, data: toTyped(Float32Array, values, spec) });
    case 'float64':
      return arrow.makeData({ type: new arrow.Float64(), ...base, data: toTyped(Float64Array, values, spec) });
    case 'int64':
      return arrow.makeData({ type: new arrow.Int64(), ...base, data: toBigInt64(values, spec) });
    case 'bool': {
      const bits = new Uint8Array((numRows + 7) >> 3);
      for (let i = 0; i < numRows; i++) if ((values as readonly unknown[])[i] === true) bits[i >> 3]! |= 1 << (i & 7);
      return arrow.makeData({ type: new arrow.Bool(), ...base, data: bits });
    }
    default:
      throw new DataError('invalid_input', `unknown parquet type ${String(spec.type)}`);
  }
}

function toTyped<T extends Int32Array | Float32Array | Float64Array>(
  ctor: { new (n: number): T; name: string },
  values: RowInput,
  spec: ColumnSpec,
): T {
  if (values instanceof ctor) return values;
  if (ArrayBuffer.isView(values)) throw new DataError('invalid_input', `column ${spec.name} expects ${ctor.name}`);
  const out = new ctor(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (typeof v !== 'number') throw new DataError('invalid_input', `column ${spec.name} row ${i} is not a number`);
    out[i] = v;
  }
  return out;
}

function toBigInt64(values: RowInput, spec: ColumnSpec): BigInt64Array {
  if (values instanceof BigInt64Array) return values;
  if (ArrayBuffer.isView(values)) throw new DataError('invalid_input', `column ${spec.name} expects BigInt64Array`);
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (typeof v === 'bigint') out[i] = v;
    else if (typeof v === 'number' && Number.isInteger(v)) out[i] = BigInt(v);
    else throw new DataError('invalid_input', `column ${spec.name} row ${i} is not an integer`);
  }
  return out;
}

const encoder = new TextEncoder();

/** UTF-8 bytes and arrow offsets of string values (null and undefined: empty). */
function utf8Buffers(
  spec: ColumnSpec,
  values: readonly (string | null | undefined)[],
): { offsets: Int32Array; bytes: Uint8Array } {
  const offsets = new Int32Array(values.length + 1);
  let buffer = new Uint8Array(Math.max(64, values.length * 8));
  let pos = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== null && v !== undefined) {
      if (typeof v !== 'string') throw new DataError('invalid_input', `column ${spec.name} row ${i} is not a string`);
      // A UTF-8 encoding takes at most 3 bytes per UTF-16 code unit.
      if (pos + v.length * 3 > buffer.length) {
        const grown = new Uint8Array(Math.max(buffer.length * 2, pos + v.length * 3));
        grown.set(buffer.subarray(0, pos));
        buffer = grown;
      }
      // ASCII fast path: ids and action names are short ASCII strings, and a plain loop beats
      // the per-call cost of encodeInto; fall back to it at the first non-ASCII character.
      const start = pos;
      let k = 0;
      for (; k < v.length; k++) {
        const code = v.charCodeAt(k);
        if (code >= 0x80) break;
        buffer[pos++] = code;
      }
      if (k < v.length) pos = start + encoder.encodeInto(v, buffer.subarray(start)).written;
    }
    offsets[i + 1] = pos;
  }
  return { offsets, bytes: buffer.subarray(0, pos) };
}

function utf8Data(
  spec: ColumnSpec,
  values: readonly (string | null | undefined)[],
  base: { length: number; nullCount: number; nullBitmap?: Uint8Array },
): arrow.Data {
  const { offsets, bytes } = utf8Buffers(spec, values);
  return arrow.makeData({ type: new arrow.Utf8(), ...base, valueOffsets: offsets, data: bytes });
}

/** The same arrow data as utf8Data over the expanded rows, each run's value encoded once. */
function utf8RunsData(spec: ColumnSpec, runs: Utf8Runs, numRows: number): arrow.Data {
  const { offsets: runOffsets, bytes: runBytes } = utf8Buffers(spec, runs.values);
  let total = 0;
  for (let k = 0; k < runs.lengths.length; k++) total += (runOffsets[k + 1]! - runOffsets[k]!) * runs.lengths[k]!;
  const offsets = new Int32Array(numRows + 1);
  const data = new Uint8Array(total);
  let bitmap: Uint8Array | undefined;
  let nullCount = 0;
  let row = 0;
  let pos = 0;
  for (let k = 0; k < runs.lengths.length; k++) {
    const from = runOffsets[k]!;
    const to = runOffsets[k + 1]!;
    const isNull = runs.values[k] === null || runs.values[k] === undefined;
    if (isNull && !spec.nullable && runs.lengths[k]! > 0) {
      throw new DataError('invalid_input', `column ${spec.name} is not nullable but row ${row} is null`);
    }
    const n = runs.lengths[k]!;
    const width = to - from;
    if (n > 0 && width > 0) {
      // the value once, then doubling copies: a few native copies per run instead of a byte loop per row
      data.set(runBytes.subarray(from, to), pos);
      for (let filled = width; filled < n * width; filled *= 2) {
        data.copyWithin(pos + filled, pos, pos + Math.min(filled, n * width - filled));
      }
    }
    for (let r = 0; r < n; r++, row++) {
      if (isNull) {
        bitmap ??= new Uint8Array((numRows + 7) >> 3).fill(0xff);
        bitmap[row >> 3]! &= ~(1 << (row & 7));
        nullCount++;
      }
      pos += width;
      offsets[row + 1] = pos;
    }
  }
  return arrow.makeData({
    type: new arrow.Utf8(),
    length: numRows,
    nullCount,
    nullBitmap: bitmap,
    valueOffsets: offsets,
    data,
  });
}

function binaryData(
  spec: ColumnSpec,
  values: readonly (Uint8Array | null | undefined)[],
  base: { length: number; nullCount: number; nullBitmap?: Uint8Array },
): arrow.Data {
  const offsets = new Int32Array(values.length + 1);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== null && v !== undefined) {
      if (!(v instanceof Uint8Array)) throw new DataError('invalid_input', `column ${spec.name} row ${i} is not bytes`);
      total += v.length;
    }
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v) data.set(v, offsets[i]!);
  }
  return arrow.makeData({ type: new arrow.Binary(), ...base, valueOffsets: offsets, data });
}

function vectorData(spec: ColumnSpec, values: ColumnInput, numRows: number): arrow.Data {
  const width = vectorWidth(spec);
  let flat: Float32Array;
  if (values instanceof Float32Array) {
    flat = values;
  } else {
    flat = new Float32Array(numRows * width);
    const rows = values as readonly (ArrayLike<number> | null | undefined)[];
    for (let i = 0; i < numRows; i++) {
      const row = rows[i];
      if (row === null || row === undefined || typeof row !== 'object' || row.length !== width) {
        throw new DataError('invalid_input', `vector column ${spec.name} row ${i} must hold exactly ${width} numbers`);
      }
      for (let j = 0; j < width; j++) flat[i * width + j] = row[j]!;
    }
  }
  const itemField = new arrow.Field('item', new arrow.Float32(), false);
  const child = arrow.makeData({ type: new arrow.Float32(), length: numRows * width, nullCount: 0, data: flat });
  return arrow.makeData({
    type: new arrow.FixedSizeList(width, itemField),
    length: numRows,
    nullCount: 0,
    child,
  });
}

// ---------------------------------------------------------------------------------------------
// Reading
