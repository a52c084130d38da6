import { ITEM_ID_COLUMN, ITEM_VECTOR_COLUMN } from '../events/schema.ts';
import { ItemTable } from '../features/item-table.ts';
import { decodeParquet } from '../io/parquet.ts';
import type { ObjectStore } from '../storage/object-store.ts';

const cache = new Map<string, Promise<ItemTable>>();

/**
 * The item table (`items/*.parquet`: item_id + pretrained vector) as the featurizer needs it,
 * cached per store root, vector width and vocabulary for the life of the process (a worker embeds
 * several partitions). No item files: every item gets zeros and the out-of-vocabulary id.
 */
export function loadItemTable(
  objects: ObjectStore,
  dim: number,
  idVocabulary: readonly string[] | null,
  cacheTag = '',
): Promise<ItemTable> {
  const key = `${objects.root}\u0000${dim}\u0000${cacheTag}`;
  let table = cache.get(key);
  if (!table) {
    table = readItemTable(objects, dim, idVocabulary);
    cache.set(key, table);
    table.catch(() => cache.delete(key));
  }
  return table;
}

async function readItemTable(objects: ObjectStore, dim: number, idVocabulary: readonly string[] | null) {
  const entries: { itemId: string; vector: ArrayLike<number> }[] = [];
  for (const { key } of await objects.list('items/')) {
    if (!key.endsWith('.parquet')) continue;
    const table = await decodeParquet(await objects.get(key), {
      columns: [ITEM_ID_COLUMN, ITEM_VECTOR_COLUMN],
      file: key,
    });
    const ids = table.columns[ITEM_ID_COLUMN];
    const vectors = table.columns[ITEM_VECTOR_COLUMN];
    if (!ids || !vectors) continue;
    for (let i = 0; i < table.numRows; i++) {
      entries.push({ itemId: ids[i] as string, vector: vectors[i] as ArrayLike<number> });
    }
  }
  return new ItemTable(dim, entries, idVocabulary);
}
