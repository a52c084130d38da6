/**
 * The `item_id` input of a model with an item-id vocabulary (docs/model-interface.md), exactly as
 * training maps ids (training/pinnerformer/features.py): 2 + index for an id in the vocabulary;
 * an unseen id goes to one of `hashBuckets` learned buckets by FNV-1a of its UTF-8 bytes (the
 * partition hash's function), or to the out-of-vocabulary id 1 when there are none.
 */
import { fnv1a32 } from '../pipeline/hash.ts';

export const OOV_ID = 1;
const FIRST_ID = 2;

export class ItemIdMap {
  private readonly index: Map<string, number>;

  /**
   * @param vocabulary the model's item ids (manifest items.idVocabulary), index = position
   * @param hashBuckets buckets for ids not in it (manifest items.hashBuckets); 0: all go to OOV
   */
  public constructor(
    vocabulary: readonly string[],
    public readonly hashBuckets = 0,
  ) {
    this.index = new Map(vocabulary.map((id, i) => [id, i]));
  }

  /** The vocabulary's length V (unseen ids' buckets start at 2 + V). */
  public get size(): number {
    return this.index.size;
  }

  /** The vocabulary's last id (the largest id the graph's table must hold), or undefined when empty. */
  public get lastId(): string | undefined {
    let last: string | undefined;
    for (const id of this.index.keys()) last = id;
    return last;
  }

  public idOf(itemId: string): number {
    const i = this.index.get(itemId);
    if (i !== undefined) return FIRST_ID + i;
    if (this.hashBuckets === 0) return OOV_ID;
    return FIRST_ID + this.index.size + (fnv1a32(itemId) % this.hashBuckets);
  }
}
