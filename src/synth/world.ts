/**
 * The item side of the synthetic world: latent topics, sub-clusters inside topics, items with
 * Zipf popularity and pretrained-style vectors (topic centroid + sub-cluster offset + noise).
 */
import { mixSeed, Rng, sampleCdf } from './rng.ts';

export interface WorldOptions {
  readonly seed: number;
  readonly items: number;
  readonly topics: number;
  /** Sub-clusters per topic (the short-term "this session is about X within the topic" signal). */
  readonly subclusters: number;
  readonly vectorDim: number;
  /** Zipf exponent of item popularity. */
  readonly zipfExponent: number;
  /** Zipf exponent of topic popularity (which topics users pick as interests / explore). */
  readonly topicZipfExponent: number;
}

export function itemId(index: number): string {
  return `i${String(index).padStart(7, '0')}`;
}

export class World {
  public readonly itemIds: string[];
  public readonly itemTopic: Int32Array;
  public readonly itemSub: Int32Array;
  /** 0 = most popular. */
  public readonly itemRank: Int32Array;
  /** Row-major [items, vectorDim]. */
  public readonly vectors: Float32Array;
  /** Item indices grouped by (topic, sub); group g = topic * subclusters + sub spans groupStart[g]..groupStart[g+1]. */
  private readonly order: Int32Array;
  private readonly groupStart: Int32Array;
  /** Running popularity sum over `order`. */
  private readonly cdf: Float64Array;
  private readonly topicCdf: Float64Array;

  public constructor(public readonly options: WorldOptions) {
    const { items: n, topics: t, subclusters: s, vectorDim: e } = options;
    const rng = new Rng(mixSeed(options.seed, 0x17e35));
    this.itemIds = Array.from({ length: n }, (_, i) => itemId(i));
    this.itemTopic = new Int32Array(n);
    this.itemSub = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      // The first `topics` items seed every topic, so no topic is empty.
      this.itemTopic[i] = i < t ? i : rng.int(t);
      this.itemSub[i] = rng.int(s);
    }
    // Popularity rank: a random permutation, independent of the topic.
    this.itemRank = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const tmp = this.itemRank[i]!;
      this.itemRank[i] = this.itemRank[j]!;
      this.itemRank[j] = tmp;
    }

    const groups = t * s;
    const counts = new Int32Array(groups + 1);
    for (let i = 0; i < n; i++) counts[this.itemTopic[i]! * s + this.itemSub[i]! + 1]!++;
    this.groupStart = new Int32Array(groups + 1);
    for (let g = 0; g < groups; g++) this.groupStart[g + 1] = this.groupStart[g]! + counts[g + 1]!;
    const fill = this.groupStart.slice(0, groups);
    this.order = new Int32Array(n);
    for (let i = 0; i < n; i++) this.order[fill[this.itemTopic[i]! * s + this.itemSub[i]!]!++] = i;
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      sum += (this.itemRank[this.order[k]!]! + 1) ** -options.zipfExponent;
      this.cdf[k] = sum;
    }
    this.topicCdf = new Float64Array(t);
    sum = 0;
    for (let k = 0; k < t; k++) {
      sum += (k + 1) ** -options.topicZipfExponent;
      this.topicCdf[k] = sum;
    }

    this.vectors = new Float32Array(n * e);
    const centroid = new Float64Array(t * e);
    const offsets = new Float64Array(groups * e);
    const scale = 1 / Math.sqrt(e);
    for (let k = 0; k < t; k++) {
      let norm = 0;
      for (let d = 0; d < e; d++) {
        const v = rng.normal();
        centroid[k * e + d] = v;
        norm += v * v;
      }
      norm = Math.sqrt(norm);
      for (let d = 0; d < e; d++) centroid[k * e + d]! /= norm;
    }
    for (let k = 0; k < groups * e; k++) offsets[k] = 0.5 * scale * rng.normal();
    for (let i = 0; i < n; i++) {
      const topic = this.itemTopic[i]!;
      const group = topic * s + this.itemSub[i]!;
      for (let d = 0; d < e; d++) {
        this.vectors[i * e + d] = centroid[topic * e + d]! + offsets[group * e + d]! + 0.35 * scale * rng.normal();
      }
    }
  }

  /** A topic drawn by topic popularity. */
  public sampleTopic(rng: Rng): number {
    return sampleCdf(this.topicCdf, 0, this.topicCdf.length, rng.next());
  }

  /** An item of `topic` (and of sub-cluster `sub` when >= 0 and not empty), drawn by popularity. */
  public sampleItem(rng: Rng, topic: number, sub: number): number {
    const s = this.options.subclusters;
    let from: number;
    let to: number;
    if (sub >= 0 && this.groupStart[topic * s + sub + 1]! > this.groupStart[topic * s + sub]!) {
      from = this.groupStart[topic * s + sub]!;
      to = this.groupStart[topic * s + sub + 1]!;
    } else {
      from = this.groupStart[topic * s]!;
      to = this.groupStart[(topic + 1) * s]!;
    }
    return this.order[sampleCdf(this.cdf, from, to, rng.next())]!;
  }
}
