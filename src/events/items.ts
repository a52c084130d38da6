/**
 * The item table: `items/*.parquet` with `item_id` (utf8) and `vector` (fixed_size_list<float32>,
 * width E, default 32), the stand-in for the paper's pretrained PinSage vectors.
 */
import { decodeParquet, encodeParquet, flattenVectors } from '../io/parquet.ts';
import { classifyDayFileName } from './day-files.ts';
import { DataError } from './errors.ts';
import type { EventSource } from './read-events.ts';
import { ITEM_ID_COLUMN, ITEM_VECTOR_COLUMN } from './schema.ts';

export interface ItemVectors {
  readonly itemIds: readonly string[];
  /** Row-major [itemIds.length, dim]. */
  readonly vectors: Float32Array;
  readonly dim: number;
}

export function encodeItems(items: ItemVectors): Uint8Array {
  return encodeParquet(
    [
      { name: ITEM_ID_COLUMN, type: 'utf8' },
      { name: ITEM_VECTOR_COLUMN, type: 'vector', width: items.dim },
    ],
    { [ITEM_ID_COLUMN]: items.itemIds, [ITEM_VECTOR_COLUMN]: items.vectors },
  );
}

/** Decodes one item file. Throws DataError for an unreadable file, missing columns or ragged vectors. */
export async function decodeItems(bytes: Uint8Array, file?: string): Promise<ItemVectors> {
  const table = await decodeParquet(bytes, { columns: [ITEM_ID_COLUMN, ITEM_VECTOR_COLUMN], file });
  for (const name of [ITEM_ID_COLUMN, ITEM_VECTOR_COLUMN]) {
    if (!(name in table.columns)) {
      throw new DataError('missing_column', `item file${file ? ` ${file}` : ''} has no ${name} column`, {
        file,
        column: name,
      });
    }
  }
  const ids = table.columns[ITEM_ID_COLUMN]! as unknown[];
  const rawVectors = table.columns[ITEM_VECTOR_COLUMN]! as unknown[];
  const first = rawVectors.find((v) => v !== null && v !== undefined) as ArrayLike<number> | undefined;
  const dim = first?.length ?? 0;
  const itemIds = ids.map((id, i) => {
    if (typeof id !== 'string' || id === '') {
      throw new DataError('invalid_input', `item file${file ? ` ${file}` : ''} row ${i} has no item_id`, {
        file,
        row: i,
      });
    }
    return id;
  });
  return { itemIds, vectors: flattenVectors(rawVectors, dim, ITEM_VECTOR_COLUMN), dim };
}

/** Reads every item data file (`items/*.parquet`, any case, not hidden) (sorted by key) into one table; undefined when there is none. */
export async function readItemTable(source: EventSource): Promise<ItemVectors | undefined> {
  // The same name rule as a day folder's files (src/events/day-files.ts): `items/<name>.parquet`.
  const keys = (await source.list('items/'))
    .map((o) => o.key)
    .filter((k) => classifyDayFileName(k.slice('items/'.length)) === 'data')
    .sort();
  if (keys.length === 0) return undefined;
  const parts = [];
  for (const key of keys) parts.push(await decodeItems(await source.get(key), key));
  const dim = parts[0]!.dim;
  const mismatch = parts.find((p) => p.dim !== dim && p.itemIds.length > 0);
  if (mismatch) throw new DataError('invalid_input', `item files disagree on vector width (${dim} vs ${mismatch.dim})`);
  const vectors = new Float32Array(parts.reduce((n, p) => n + p.vectors.length, 0));
  let at = 0;
  for (const p of parts) {
    vectors.set(p.vectors, at);
    at += p.vectors.length;
  }
  return { itemIds: parts.flatMap((p) => p.itemIds), vectors, dim };
}
