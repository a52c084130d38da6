/**
 * Seeded randomness for the generator. mulberry32 has a 32-bit state, so each user's whole stream
 * is one uint32 kept in a Uint32Array between days: a user's events depend only on (seed, user),
 * not on chunking or on the other users.
 */
export class Rng {
  public state: number;

  public constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  public next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  public int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller, one value per call). */
  public normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  public logNormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }

  /** Poisson by inversion (small means only). */
  public poisson(mean: number): number {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit && k < 1000) {
      k++;
      p *= this.next();
    }
    return k;
  }

  /** Number of failures before the first success, with the given mean. */
  public geometric(mean: number): number {
    if (mean <= 0) return 0;
    const p = 1 / (1 + mean);
    return Math.floor(Math.log(1 - this.next()) / Math.log(1 - p));
  }
}

/** Mixes a seed with stream labels into a well-spread uint32 (murmur3 finalizer). */
export function mixSeed(seed: number, ...labels: number[]): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const label of [...labels, labels.length]) {
    h = Math.imul(h ^ (label >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * Index in [from, to) drawn in proportion to weights, given `cdf` = running sum of the weights
 * over the whole array (several groups laid out back to back). Binary search.
 */
export function sampleCdf(cdf: Float64Array, from: number, to: number, u: number): number {
  const base = from > 0 ? cdf[from - 1]! : 0;
  const target = base + u * (cdf[to - 1]! - base);
  let lo = from;
  let hi = to - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
