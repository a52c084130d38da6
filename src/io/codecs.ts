/**
 * The parquet codecs the readers accept beyond hyparquet's built-in SNAPPY and UNCOMPRESSED:
 * GZIP, BROTLI, ZSTD, LZ4 (Hadoop framing) and LZ4_RAW, from hyparquet's companion package
 * (pure JavaScript). SNAPPY stays on hyparquet's own decoder, which the benchmarks measure.
 * pyarrow, Spark and DuckDB write all of these (docs/data.md, "Which files count").
 */
import type { Compressors } from 'hyparquet';
import {
  decompressBrotli,
  decompressGzip,
  decompressLz4,
  decompressLz4Raw,
  decompressZstd,
} from 'hyparquet-compressors';

export const COMPRESSORS: Compressors = {
  GZIP: decompressGzip,
  BROTLI: decompressBrotli,
  ZSTD: (input, length) => decompressZstd(input, new Uint8Array(length)),
  LZ4: decompressLz4,
  LZ4_RAW: decompressLz4Raw,
};
