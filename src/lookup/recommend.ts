/**
 * What an embedding means: a user's recent actions (the sequence the daily run embedded) and the
 * items nearest to the user's embedding by cosine, over the deployed model's item embeddings
 * (`models/<mv>/item_embeddings.parquet`). Used by `pinnerformer recommend`, the local lookup
 * server's `/users/:id/recommendations` and the demo.
 */
import type { EmbeddingReader, LookupResult, VersionId } from '../embeddings/types.ts';
import type { SequenceEvent } from '../features/sequence.ts';
import { decodeParquet } from '../io/parquet.ts';
import { partitionOf } from '../pipeline/hash.ts';
import { layout } from '../pipeline/layout.ts';
import { readRunManifest } from '../pipeline/plan.ts';
import { readUserSequence, StateChainError } from '../pipeline/state-chain.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { ModelError, NotFoundError } from '../util/errors.ts';

/** Item embeddings, each row L2-normalised, so a dot product is the cosine. */
export interface ItemIndex {
  readonly itemIds: readonly string[];
  readonly vectors: Float32Array;
  readonly dim: number;
}

export interface ScoredItem {
  readonly itemId: string;
  readonly score: number;
}

export interface Recommendation {
  readonly userId: string;
  readonly version: string;
  readonly modelVersion: string;
  /** Date of the user's stored embedding. */
  readonly date: string;
  /** The user's most recent actions under the version, newest last. */
  readonly recent: readonly SequenceEvent[];
  /** Whether `items` leaves out every item of the user's stored sequence. */
  readonly newOnly: boolean;
  readonly items: readonly ScoredItem[];
}

export interface RecommendOptions {
  /** The stored embedding of this version; default the current one. */
  readonly version?: VersionId;
  /**
   * Leave out the items of the user's stored sequence (the events its embedding was computed
   * from): for data where an item is never taken twice, such as ratings; default false.
   */
  readonly newOnly?: boolean;
}

/** Decodes item_embeddings.parquet (item_id, embedding) into a normalised index. */
export async function decodeItemIndex(bytes: Uint8Array, source: string): Promise<ItemIndex> {
  const table = await decodeParquet(bytes, { columns: ['item_id', 'embedding'] });
  const ids = table.columns.item_id as readonly string[] | undefined;
  const rows = table.columns.embedding as readonly ArrayLike<number>[] | undefined;
  if (!ids || !rows) throw new ModelError(`${source} lacks the item_id or embedding column`, { source });
  const dim = table.numRows > 0 ? rows[0]!.length : 0;
  const vectors = new Float32Array(table.numRows * dim);
  for (let i = 0; i < table.numRows; i++) {
    const v = rows[i]!;
    if (v.length !== dim) throw new ModelError(`${source}: item ${ids[i]} has a ${v.length}-d embedding, not ${dim}`);
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += v[d]! * v[d]!;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let d = 0; d < dim; d++) vectors[i * dim + d] = v[d]! * scale;
  }
  return { itemIds: ids, vectors, dim };
}

/** The `k` items with the highest cosine to `query` (ties by item id), leaving out `exclude`. */
export function nearestItems(
  index: ItemIndex,
  query: ArrayLike<number>,
  k: number,
  exclude: ReadonlySet<string> = new Set(),
): ScoredItem[] {
  if (query.length !== index.dim) {
    throw new ModelError(`the embedding has ${query.length} dims but the item embeddings ${index.dim}`);
  }
  let qn = 0;
  for (let d = 0; d < query.length; d++) qn += query[d]! * query[d]!;
  const scale = qn > 0 ? 1 / Math.sqrt(qn) : 0;
  const scored: ScoredItem[] = [];
  for (let i = 0; i < index.itemIds.length; i++) {
    if (exclude.has(index.itemIds[i]!)) continue;
    let dot = 0;
    for (let d = 0; d < index.dim; d++) dot += index.vectors[i * index.dim + d]! * query[d]!;
    scored.push({ itemId: index.itemIds[i]!, score: dot * scale });
  }
  return scored
    .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0))
    .slice(0, k);
}

export interface RecommenderOptions {
  /** How many recent actions to return; default 10. */
  readonly recent?: number;
}

/** Recommendations for users of the embedded table, from the objects the daily run wrote. */
export class Recommender {
  private readonly indexes = new Map<string, Promise<ItemIndex>>();

  public constructor(
    private readonly objects: ObjectStore,
    private readonly store: EmbeddingReader,
    private readonly options: RecommenderOptions = {},
  ) {}

  /** NotFoundError for an unknown user or version. */
  public async recommend(userId: string, k: number, options: RecommendOptions = {}): Promise<Recommendation> {
    const found: LookupResult | undefined = await this.store.lookup(userId, options.version);
    if (!found) throw new NotFoundError(`no embedding for user ${JSON.stringify(userId)}`, { userId });
    const versionDate = found.version.slice(found.version.lastIndexOf('@') + 1);
    const [index, sequence] = await Promise.all([
      this.itemIndex(found.modelVersion),
      this.storedSequence(userId, found.modelVersion, versionDate),
    ]);
    const newOnly = options.newOnly ?? false;
    const exclude = newOnly ? new Set(sequence.map((e) => e.item_id)) : undefined;
    const recent = this.options.recent ?? 10;
    return {
      userId,
      version: found.version,
      modelVersion: found.modelVersion,
      date: found.date,
      recent: recent > 0 ? sequence.slice(-recent) : [], // slice(-0) would keep them all
      newOnly,
      items: nearestItems(index, found.embedding, k, exclude),
    };
  }

  private itemIndex(modelVersion: string): Promise<ItemIndex> {
    let index = this.indexes.get(modelVersion);
    if (!index) {
      const key = `${layout.modelPrefix(modelVersion)}item_embeddings.parquet`;
      index = (async () => {
        const bytes = await this.objects.getIfExists(key);
        if (!bytes) throw new NotFoundError(`model ${modelVersion} has no ${key}: deploy the model directory`);
        return decodeItemIndex(bytes, key);
      })();
      index.catch(() => this.indexes.delete(modelVersion));
      this.indexes.set(modelVersion, index);
    }
    return index;
  }

  /** The user's sequence in the version's snapshot (every user with a sequence is in it), newest last. */
  private async storedSequence(userId: string, modelVersion: string, date: string): Promise<readonly SequenceEvent[]> {
    const env = { objects: this.objects, embeddings: this.store };
    const run = await readRunManifest(env, modelVersion, date);
    // the newest file of the version's state (base or a delta) that holds the user; none once expired
    const user = await readUserSequence(env, run, partitionOf(userId, run.partitions), userId).catch((error) => {
      if (error instanceof StateChainError) return undefined;
      throw error;
    });
    return user ? user.events : [];
  }
}
