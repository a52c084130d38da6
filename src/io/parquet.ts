/**
 * The parquet codec's public surface: what the rest of the tree imports. One module per job:
 * encoding (./parquet-encode.ts), whole-file decoding (./parquet-decode.ts), ranged decoding
 * through a ByteSource (./parquet-range.ts), and the column reader the two decoders share
 * (./parquet-columns.ts, with ./parquet-pages.ts for page-by-page reads). pyarrow reads what we
 * write and we read what pyarrow writes (test/parquet.test.ts checks both directions).
 */
export type { ColumnKind, ColumnValues, DecodedTable, DecodeOptions, RangeDecodeOptions } from './parquet-columns.ts';
export { decodeParquet, decodeVectorColumn, flattenVectors, parquetColumnKinds } from './parquet-decode.ts';
export {
  type ColumnInput,
  type ColumnSpec,
  type EncodeOptions,
  encodeParquet,
  type ParquetType,
  type Utf8Runs,
} from './parquet-encode.ts';
export { type ByteSource, decodeParquetRange, parquetRowGroups, type RowGroupInfo } from './parquet-range.ts';
