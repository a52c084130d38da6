import { readItemTable } from '../events/items.ts';
import type { ItemIdMap } from '../features/item-ids.ts';
import { ItemTable } from '../features/item-table.ts';
import type { ObjectStore } from '../storage/object-store.ts';

const cache = new Map<string, Promise<ItemTable>>();

/**
 * The item table (`items/*.parquet`: item_id + pretrained vector) as the featurizer needs it,
 * cached per store root, vector width and model (`cacheTag`) for the life of the process (a worker embeds
 * several partitions). No item files: every item gets zeros and the out-of-vocabulary id.
 */
export async function loadItemTable(
  objects: ObjectStore,
  dim: number,
  ids: ItemIdMap | null,
  cacheTag = '',
): Promise<ItemTable> {
  // an id-only model (no vector input) ignores any item files
  if (dim === 0) return ItemTable.empty(0, ids);
  // Keyed by the item files' names and sizes too: a long-lived worker sees a changed table.
  const files = (await objects.list('items/')).filter((o) => o.key.endsWith('.parquet'));
  const key = [objects.root, dim, cacheTag, ...files.map((f) => `${f.key}:${f.size}`)].join('\u0000');
  let table = cache.get(key);
  if (!table) {
    if (cache.size >= 4) cache.clear();
    table = buildItemTable(objects, dim, ids);
    cache.set(key, table);
    table.catch(() => cache.delete(key));
  }
  return table;
}

/** Decodes the item files with the data model's reader, then indexes them for the featurizer. */
async function buildItemTable(objects: ObjectStore, dim: number, ids: ItemIdMap | null): Promise<ItemTable> {
  const items = await readItemTable(objects);
  if (!items) return ItemTable.empty(dim, ids);
  const entries = items.itemIds.map((itemId, i) => ({
    itemId,
    vector: items.vectors.subarray(i * items.dim, (i + 1) * items.dim),
  }));
  return new ItemTable(dim, entries, ids);
}
