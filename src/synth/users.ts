/**
 * Users of the synthetic world, one chunk at a time, as typed arrays (no per-user objects):
 * lifetime (new users start late, some churn), heavy-tailed activity, time zone, and a sparse
 * long-term interest mixture over topics that drifts slowly.
 */
import { mixSeed, Rng } from './rng.ts';
import type { World } from './world.ts';

export const MAX_INTERESTS = 4;
/** Mean of the activity factor LogNormal(0, 1). */
const MEAN_ACTIVITY = Math.exp(0.5);
const TIME_ZONES = [-8, -7, -5, -4, -3, 0, 1, 2, 3, 5, 8, 9];
const TIME_ZONE_WEIGHTS = [10, 3, 10, 4, 5, 8, 12, 5, 3, 6, 4, 3];

export interface UserModelOptions {
  readonly seed: number;
  readonly days: number;
  /** Mean share of living users active on a day; default 0.3. */
  readonly activeRate: number;
  /** Share of users who appear after the first day; default 0.25. */
  readonly newUserRate: number;
  /** Share of users who stop before the last day; default 0.2. */
  readonly churnRate: number;
  /** Daily probability that one interest is replaced by another topic; default 1/40. */
  readonly interestSwitchRate: number;
}

export function userId(index: number): string {
  return `u${String(index).padStart(8, '0')}`;
}

export class UserChunk {
  public readonly ids: string[];
  public readonly rng: Uint32Array;
  public readonly startDay: Int32Array;
  /** Exclusive; `days` when the user does not churn. */
  public readonly endDay: Int32Array;
  public readonly activity: Float32Array;
  public readonly pActive: Float32Array;
  public readonly tzHours: Int8Array;
  public readonly nInterests: Uint8Array;
  public readonly topics: Int32Array;
  public readonly weights: Float64Array;
  public readonly startTopics: Int32Array;
  public readonly startWeights: Float64Array;

  public constructor(
    public readonly first: number,
    public readonly count: number,
    private readonly world: World,
    private readonly options: UserModelOptions,
  ) {
    this.ids = Array.from({ length: count }, (_, i) => userId(first + i));
    this.rng = new Uint32Array(count);
    this.startDay = new Int32Array(count);
    this.endDay = new Int32Array(count);
    this.activity = new Float32Array(count);
    this.pActive = new Float32Array(count);
    this.tzHours = new Int8Array(count);
    this.nInterests = new Uint8Array(count);
    this.topics = new Int32Array(count * MAX_INTERESTS).fill(-1);
    this.weights = new Float64Array(count * MAX_INTERESTS);
    const tzTotal = TIME_ZONE_WEIGHTS.reduce((a, b) => a + b, 0);
    const rng = new Rng(0);
    for (let u = 0; u < count; u++) {
      rng.state = mixSeed(options.seed, 0x05e125, first + u);
      const days = options.days;
      this.startDay[u] = days > 1 && rng.next() < options.newUserRate ? 1 + rng.int(days - 1) : 0;
      const start = this.startDay[u]!;
      this.endDay[u] =
        days - start > 1 && rng.next() < options.churnRate ? start + 1 + rng.int(days - start - 1) : days;
      const a = rng.logNormal(0, 1);
      this.activity[u] = a;
      this.pActive[u] = Math.min(0.95, (options.activeRate * a) / MEAN_ACTIVITY);
      let z = rng.next() * tzTotal;
      let tz = 0;
      while (tz < TIME_ZONES.length - 1 && z >= TIME_ZONE_WEIGHTS[tz]!) z -= TIME_ZONE_WEIGHTS[tz++]!;
      this.tzHours[u] = TIME_ZONES[tz]!;
      const k = 1 + Math.min(MAX_INTERESTS - 1, rng.poisson(1));
      this.nInterests[u] = k;
      let total = 0;
      for (let j = 0; j < k; j++) {
        this.topics[u * MAX_INTERESTS + j] = this.newTopic(rng, u);
        const w = -Math.log(1 - rng.next()); // Dirichlet(1) through exponentials
        this.weights[u * MAX_INTERESTS + j] = w;
        total += w;
      }
      for (let j = 0; j < k; j++) this.weights[u * MAX_INTERESTS + j]! /= total;
      this.rng[u] = rng.state;
    }
    this.startTopics = this.topics.slice();
    this.startWeights = this.weights.slice();
  }

  /** A topic (by topic popularity) the user does not hold yet, when one is found quickly. */
  private newTopic(rng: Rng, u: number): number {
    let topic = this.world.sampleTopic(rng);
    for (let attempt = 0; attempt < 8 && this.interestIndex(u, topic) >= 0; attempt++)
      topic = this.world.sampleTopic(rng);
    return topic;
  }

  /** Slot of `topic` among the user's interests, or -1. */
  public interestIndex(u: number, topic: number): number {
    const base = u * MAX_INTERESTS;
    for (let j = 0; j < this.nInterests[u]!; j++) if (this.topics[base + j] === topic) return j;
    return -1;
  }

  /** One day of slow drift: weights jitter a little; now and then one interest is replaced. */
  public drift(u: number, rng: Rng): void {
    const base = u * MAX_INTERESTS;
    const k = this.nInterests[u]!;
    if (rng.next() < this.options.interestSwitchRate) {
      const j = rng.int(k);
      this.topics[base + j] = this.newTopic(rng, u);
    }
    let total = 0;
    for (let j = 0; j < k; j++) {
      const w = this.weights[base + j]! * Math.exp(0.05 * rng.normal());
      this.weights[base + j] = w;
      total += w;
    }
    for (let j = 0; j < k; j++) this.weights[base + j]! /= total;
  }

  /** An interest topic drawn by the user's current weights. */
  public sampleInterest(u: number, rng: Rng): number {
    const base = u * MAX_INTERESTS;
    const k = this.nInterests[u]!;
    let r = rng.next();
    for (let j = 0; j < k - 1; j++) {
      r -= this.weights[base + j]!;
      if (r < 0) return this.topics[base + j]!;
    }
    return this.topics[base + k - 1]!;
  }
}
