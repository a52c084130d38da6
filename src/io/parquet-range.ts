/**
 * Ranged parquet decoding through a ByteSource (e.g. ranged GETs of an object store): a file's row
 * groups from its footer, and some of its rows, fetching only the footer and the column chunks of
 * the row groups that hold them.
 */
import { type AsyncBuffer, type FileMetaData, parquetMetadataAsync } from 'hyparquet';
import { DataError } from '../events/errors.ts';
import {
  type DecodedTable,
  decodeWith,
  type RangeDecodeOptions,
  toArrayBuffer,
  unreadable,
} from './parquet-columns.ts';

/**
 * Random access to a file's bytes (e.g. ranged GETs of an object store): what lets a reader take
 * the footer, or some row groups, of a big file without holding the whole file.
 */
export interface ByteSource {
  readonly byteLength: number;
  /** Bytes [start, end). */
  read(start: number, end: number): Promise<Uint8Array>;
}

export interface RowGroupInfo {
  /** First row of the group in the file. */
  readonly rowStart: number;
  readonly rows: number;
  /** Compressed bytes of the group's column chunks (what reading it fetches). */
  readonly bytes: number;
}

function asyncBufferOf(source: ByteSource): AsyncBuffer {
  return {
    byteLength: source.byteLength,
    slice: async (start, end) => toArrayBuffer(await source.read(start, end ?? source.byteLength)),
  };
}

/** Row counts and sizes of a file's row groups (reads only the footer). */
export async function parquetRowGroups(source: ByteSource, file?: string): Promise<RowGroupInfo[]> {
  try {
    const metadata = await parquetMetadataAsync(asyncBufferOf(source));
    return rowGroupsOf(metadata);
  } catch (error) {
    throw unreadable(file, error);
  }
}

function rowGroupsOf(metadata: FileMetaData): RowGroupInfo[] {
  let rowStart = 0;
  return metadata.row_groups.map((group) => {
    const rows = Number(group.num_rows);
    let bytes = 0;
    for (const column of group.columns) bytes += Number(column.meta_data?.total_compressed_size ?? 0);
    const info = { rowStart, rows, bytes };
    rowStart += rows;
    return info;
  });
}

/**
 * Reads rows [rowStart, rowEnd) of a parquet file through a ByteSource: only the footer and the
 * column chunks of the row groups holding those rows are fetched. Values and kinds as in
 * decodeParquet; `numRows` is the number of rows read. Throws DataError('unreadable_file').
 */
export async function decodeParquetRange(source: ByteSource, options: RangeDecodeOptions = {}): Promise<DecodedTable> {
  try {
    const file = asyncBufferOf(source);
    return await decodeWith(file, await parquetMetadataAsync(file), options);
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw unreadable(options.file, error);
  }
}
