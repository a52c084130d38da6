/**
 * Page-level readers for two column layouts hyparquet reads slowly: a whole nullable flat column
 * and a fixed-width `list<float32>` vector column. They use hyparquet's own page decoding
 * (`hyparquet/src/*.js`, exported by the package; the version is pinned in package.json because
 * these are not its main API) but skip its per-value nested-list assembly. Each returns undefined
 * for any layout or page it does not expect, and the caller then reads the column through
 * hyparquet, so results and errors are the same either way (src/io/parquet-columns.ts,
 * src/io/parquet-decode.ts).
 */
import { type FileMetaData, parquetMetadata } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { convert, convertWithDictionary, DEFAULT_PARSERS } from 'hyparquet/src/convert.js';
import { decompressPage, readDataPage, readDataPageV2 } from 'hyparquet/src/datapage.js';
import { readPlain } from 'hyparquet/src/plain.js';
import { getSchemaPath } from 'hyparquet/src/schema.js';
import type { ColumnDecoder, Encoding, SchemaElement } from 'hyparquet/src/types.js';
import { COMPRESSORS } from './codecs.ts';

type ColumnChunkMeta = NonNullable<FileMetaData['row_groups'][number]['columns'][number]['meta_data']>;
type PageHeader = ReturnType<typeof parquetHeader>;

/** The pages of one column chunk, in file order: each header and its still-compressed bytes. */
function* chunkPages(buffer: ArrayBuffer, meta: ColumnChunkMeta): Generator<{ header: PageHeader; bytes: Uint8Array }> {
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
  const reader = { view: new DataView(buffer, start, Number(meta.total_compressed_size)), offset: 0 };
  while (reader.offset < reader.view.byteLength) {
    const header = parquetHeader(reader);
    const bytes = new Uint8Array(buffer, start + reader.offset, header.compressed_page_size);
    reader.offset += header.compressed_page_size;
    yield { header, bytes };
  }
}

/** The plain values of a dictionary page (before any conversion). */
function dictionaryValues(header: PageHeader, bytes: Uint8Array, meta: ColumnChunkMeta, typeLength?: number) {
  const page = decompressPage(bytes, header.uncompressed_page_size, meta.codec, COMPRESSORS);
  const view = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
  return readPlain(view, meta.type, header.dictionary_page_header?.num_values ?? 0, typeLength);
}

/**
 * A whole optional (nullable) flat column, read page by page with hyparquet's own page decoding
 * and conversions, nulls placed from the definition levels. hyparquet sends such columns through
 * its general nested-list assembly, one push per value (most of the time of reading the sequence
 * snapshot's and the work files' nullable columns). Undefined for any other column, or anything
 * unexpected: hyparquet then reads the column (and reports what is wrong with it).
 */
export function optionalFlatColumn(
  buffer: ArrayBuffer,
  metadata: FileMetaData,
  name: string,
  utf8: boolean,
): unknown[] | undefined {
  try {
    const schemaPath = getSchemaPath(metadata.schema, [name]);
    const element = schemaPath[1]?.element;
    if (schemaPath.length !== 2 || !element || element.repetition_type !== 'OPTIONAL' || element.num_children) {
      return undefined;
    }
    const out = new Array<unknown>(Number(metadata.num_rows));
    let at = 0;
    for (const group of metadata.row_groups) {
      const meta = group.columns.find(
        (c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === name,
      )?.meta_data;
      if (meta === undefined) return undefined;
      const decoder: ColumnDecoder = {
        pathInSchema: [name],
        element,
        schemaPath,
        type: meta.type,
        codec: meta.codec,
        compressors: COMPRESSORS,
        parsers: DEFAULT_PARSERS,
        utf8,
      };
      const groupEnd = at + Number(group.num_rows);
      let dictionary: ReturnType<typeof convert> | undefined;
      for (const { header, bytes: compressed } of chunkPages(buffer, meta)) {
        let page: ReturnType<typeof readDataPage>;
        let count: number;
        let encoding: Encoding;
        if (header.type === 'DICTIONARY_PAGE' && header.dictionary_page_header) {
          dictionary = convert(dictionaryValues(header, compressed, meta, element.type_length), decoder);
          continue;
        } else if (header.type === 'DATA_PAGE' && header.data_page_header) {
          const bytes = decompressPage(compressed, header.uncompressed_page_size, meta.codec, COMPRESSORS);
          page = readDataPage(bytes, header.data_page_header, decoder);
          count = header.data_page_header.num_values;
          encoding = header.data_page_header.encoding;
        } else if (header.type === 'DATA_PAGE_V2' && header.data_page_header_v2) {
          page = readDataPageV2(compressed, header, decoder);
          count = header.data_page_header_v2.num_values;
          encoding = header.data_page_header_v2.encoding;
        } else {
          return undefined;
        }
        const values = convertWithDictionary(
          page.dataPage,
          dictionary,
          encoding as never,
          decoder,
        ) as ArrayLike<unknown>;
        const levels = page.definitionLevels;
        if (at + count > groupEnd) return undefined;
        if (levels === undefined || levels.length === 0) {
          // no null in the page (the reader drops levels that are all at the maximum)
          if (values.length !== count) return undefined;
          for (let i = 0; i < count; i++) out[at + i] = values[i];
        } else {
          if (levels.length !== count) return undefined;
          let next = 0;
          for (let i = 0; i < count; i++) out[at + i] = levels[i] === 1 ? values[next++] : null;
          if (next !== values.length) return undefined;
        }
        at += count;
      }
      if (at !== groupEnd) return undefined; // the chunk's pages held fewer values than its rows
    }
    return at === out.length ? out : undefined;
  } catch {
    return undefined;
  }
}

export function flatVectorColumn(buffer: ArrayBuffer, name: string, width: number): Float32Array | undefined {
  const metadata = parquetMetadata(buffer);
  const numRows = Number(metadata.num_rows);
  const leafPath = metadata.row_groups[0]?.columns.find((c) => c.meta_data?.path_in_schema[0] === name)?.meta_data
    ?.path_in_schema;
  if (leafPath === undefined) return numRows === 0 ? new Float32Array(0) : undefined;
  const schemaPath = getSchemaPath(metadata.schema, leafPath);
  const elements: SchemaElement[] = schemaPath.map((node) => node.element);
  // root, the list column (required), its repeated group, the required float leaf: nothing else
  if (
    elements.length !== 4 ||
    elements[1]!.repetition_type !== 'REQUIRED' ||
    elements[2]!.repetition_type !== 'REPEATED' ||
    elements[3]!.repetition_type !== 'REQUIRED' ||
    elements[3]!.type !== 'FLOAT'
  ) {
    return undefined;
  }
  const out = new Float32Array(numRows * width);
  let at = 0; // values so far, over every page and row group
  for (const group of metadata.row_groups) {
    const meta = group.columns.find((c) => c.meta_data?.path_in_schema.join('.') === leafPath.join('.'))?.meta_data;
    if (meta === undefined) return undefined;
    const decoder: ColumnDecoder = {
      pathInSchema: leafPath,
      element: elements[3]!,
      schemaPath,
      type: 'FLOAT',
      codec: meta.codec,
      compressors: COMPRESSORS,
      parsers: undefined as unknown as ColumnDecoder['parsers'],
    };
    let dictionary: Float32Array | undefined;
    for (const { header, bytes } of chunkPages(buffer, meta)) {
      if (header.type === 'DICTIONARY_PAGE' && header.dictionary_page_header) {
        dictionary = Float32Array.from(dictionaryValues(header, bytes, meta) as Float32Array);
        continue;
      }
      if (header.type !== 'DATA_PAGE' || !header.data_page_header) return undefined;
      const page = decompressPage(bytes, header.uncompressed_page_size, meta.codec, COMPRESSORS);
      const daph = header.data_page_header;
      const { definitionLevels, repetitionLevels, dataPage } = readDataPage(page, daph, decoder);
      // definition levels are dropped when all are at the maximum: no empty list anywhere
      if ((definitionLevels?.length ?? 0) > 0 || dataPage.length !== daph.num_values) return undefined;
      if (repetitionLevels.length !== dataPage.length) return undefined;
      if (at + dataPage.length > out.length) return undefined;
      // every row exactly `width` long: a new row (repetition level 0) every `width` values
      for (let i = 0; i < repetitionLevels.length; i++) {
        if ((repetitionLevels[i] === 0) !== ((at + i) % width === 0)) return undefined;
      }
      const dictionaryEncoded = daph.encoding === 'PLAIN_DICTIONARY' || daph.encoding === 'RLE_DICTIONARY';
      if (dictionaryEncoded) {
        if (!dictionary) return undefined;
        for (let i = 0; i < dataPage.length; i++) {
          const value = dictionary[dataPage[i] as number];
          if (value === undefined) return undefined;
          out[at + i] = value;
        }
      } else if (daph.encoding === 'PLAIN' && dataPage instanceof Float32Array) {
        out.set(dataPage, at);
      } else {
        return undefined;
      }
      at += dataPage.length;
    }
  }
  return at === out.length ? out : undefined;
}
