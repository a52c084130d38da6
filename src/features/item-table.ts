import { ModelError } from '../util/errors.ts';
import { type ItemIdMap, OOV_ID } from './item-ids.ts';

/**
 * Item side of the features: pretrained vectors from `items/*.parquet` (none for an id-only model,
 * `dim` 0) and the optional item-id vocabulary of the model. Vectors live in one Float32Array, indexed through a Map.
 */
export class ItemTable {
  private readonly index = new Map<string, number>();
  private readonly vectors: Float32Array;

  /**
   * @param dim pretrained vector width (`manifest.dims.itemVector`)
   * @param entries item ids with their vectors (each `dim` long)
   * @param ids the model's item-id vocabulary and hash buckets, or null when it has none
   */
  public constructor(
    public readonly dim: number,
    entries: Iterable<{ readonly itemId: string; readonly vector: ArrayLike<number> }>,
    private readonly ids: ItemIdMap | null = null,
  ) {
    const chunks: ArrayLike<number>[] = [];
    for (const { itemId, vector } of entries) {
      if (vector.length !== dim) {
        throw new ModelError(`item ${itemId} has a ${vector.length}-d vector; the model expects ${dim}`, {
          itemId,
          dims: vector.length,
          expected: dim,
        });
      }
      if (!this.index.has(itemId)) {
        this.index.set(itemId, chunks.length);
        chunks.push(vector);
      }
    }
    this.vectors = new Float32Array(chunks.length * dim);
    chunks.forEach((vector, i) => {
      this.vectors.set(vector, i * dim);
    });
  }

  public get size(): number {
    return this.index.size;
  }

  /** Row of the item's vector in `vectorData` (× dim), or -1 when it has none: one Map lookup. */
  public rowOf(itemId: string): number {
    return this.index.get(itemId) ?? -1;
  }

  /** All vectors, row after row (read-only by contract): for copying without a view per item. */
  public get vectorData(): Float32Array {
    return this.vectors;
  }

  /** Whether the model has an item-id vocabulary (else idFeature needs no lookup). */
  public get hasVocabulary(): boolean {
    return this.ids !== null;
  }

  /** Copies the item's vector into `out` at `offset`; leaves zeros and returns false when it has none. */
  public copyVector(itemId: string, out: Float32Array, offset: number): boolean {
    const i = this.index.get(itemId);
    if (i === undefined) return false;
    out.set(this.vectors.subarray(i * this.dim, (i + 1) * this.dim), offset);
    return true;
  }

  /** The `item_id` input: through the vocabulary (ItemIdMap), or without one 2/1 for has/lacks a vector. */
  public idFeature(itemId: string, hasVector: boolean): number {
    if (this.ids === null) return hasVector ? 2 : OOV_ID;
    return this.ids.idOf(itemId);
  }

  /** A table with no pretrained vectors (every item gets zeros and the out-of-vocabulary id). */
  public static empty(dim: number, ids: ItemIdMap | null = null): ItemTable {
    return new ItemTable(dim, [], ids);
  }
}
