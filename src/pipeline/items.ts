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
export async function loadItemTable(
  objects: ObjectStore,
  dim: number,
  idVocabulary: readonly string[] | null,
  cacheTag = '',
): Promise<ItemTable> {
  // Keyed by the item files' names and sizes too: a long-lived worker sees a changed table.
  const files = (await objects.list('items/')).filter((o) => o.key.endsWith('.parquet'));
  const key = [objects.root, dim, cacheTag, ...files.map((f) => `${f.key}:${f.size}`)].join('\u0000');
  let table = cache.get(key);
  if (!table) {
    if (cache.size >= 4) cache.clear();
    table = readItemTable(
      objects,
      files.map((f) => f.key),
      dim,
      idVocabulary,
    );
    cache.set(key, table);
    table.catch(() => cache.delete(key));
  }
  return table;
}

async function readItemTable(
  objects: ObjectStore,
  keys: readonly string[],
  dim: number,
  idVocabulary: readonly string[] | null,
) {
  const entries: { itemId: string; vector: ArrayLike<number> }[] = [];
  for (const key of keys) {
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
