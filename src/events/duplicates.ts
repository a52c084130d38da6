/**
 * The set of events already accepted for one day, for the `duplicate_row` rule: same user_id,
 * item_id, action, surface (blank = null) and ts. An open-addressing hash table over columns
 * (the decoded strings are referenced, not copied; numbers live in typed arrays), so a day of
 * millions of rows costs ~50 bytes per row instead of one key string and Set entry per row
 * (~4x more, and the GC time). Hashing reads the strings' characters (no Map lookups: those
 * miss the cache on a million-entry map). Exact: a hash match is confirmed field by field.
 */
const EMPTY = 0;
const MAX_LOAD = 0.5;

export class DuplicateIndex {
  // One-entry cache: files group rows by user, so the user's hash is usually the last one.
  private lastUser: string | undefined;
  private lastUserHash = 0;
  /**
   * Open addressing, two Int32 per slot: [hash, entry + 1] (entry + 1 = EMPTY: free). The hash
   * sits next to the entry so a probe touches one cache line; the entries are read only when
   * the hashes match.
   */
  private table = new Int32Array(2 << 10);
  private users: string[] = [];
  private items: string[] = [];
  private surfaces: (string | null)[] = [];
  private actions = new Int32Array(512);
  private times = new Float64Array(512);
  private count = 0;

  /** Number of distinct events held. */
  public get size(): number {
    return this.count;
  }

  /**
   * Adds the event; false when an equal one is already there. `action` is a small integer code
   * of the action name (the caller's); `ts` any finite number.
   */
  public add(userId: string, itemId: string, action: number, surface: string | null, ts: number): boolean {
    if (userId !== this.lastUser) {
      this.lastUser = userId;
      this.lastUserHash = stringHash(0x2545f491, userId);
    }
    let hash = stringHash(this.lastUserHash, itemId);
    hash = surface === null ? mix(hash, -1) : stringHash(hash, surface);
    hash = mix(mix(mix(hash, action), ts | 0), Math.floor(ts / 4294967296) | 0);
    const table = this.table;
    const mask = (table.length >> 1) - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = table[2 * slot + 1]!;
      if (entry === EMPTY) {
        this.insert(slot, hash, userId, itemId, action, surface, ts);
        return true;
      }
      if (table[2 * slot] === hash) {
        const e = entry - 1;
        if (
          this.times[e] === ts &&
          this.actions[e] === action &&
          this.users[e] === userId &&
          this.items[e] === itemId &&
          this.surfaces[e] === surface
        ) {
          return false;
        }
      }
    }
  }

  private insert(
    slot: number,
    hash: number,
    userId: string,
    itemId: string,
    action: number,
    surface: string | null,
    ts: number,
  ): void {
    const e = this.count;
    if (e === this.times.length) {
      this.actions = grown(this.actions, new Int32Array(2 * e));
      this.times = grown(this.times, new Float64Array(2 * e));
    }
    this.users.push(userId);
    this.items.push(itemId);
    this.surfaces.push(surface);
    this.actions[e] = action;
    this.times[e] = ts;
    this.table[2 * slot] = hash;
    this.table[2 * slot + 1] = e + 1;
    this.count++;
    if (this.count > (this.table.length >> 1) * MAX_LOAD) this.rehash();
  }

  private rehash(): void {
    const old = this.table;
    const table = new Int32Array(old.length * 2);
    const mask = (table.length >> 1) - 1;
    for (let i = 0; i < old.length; i += 2) {
      const entry = old[i + 1]!;
      if (entry === EMPTY) continue;
      const hash = old[i]!;
      let slot = hash & mask;
      while (table[2 * slot + 1] !== EMPTY) slot = (slot + 1) & mask;
      table[2 * slot] = hash;
      table[2 * slot + 1] = entry;
    }
    this.table = table;
  }
}

/** The UTF-16 code units of `text`, mixed into `hash` (FNV-1a steps, then one mixing round). */
function stringHash(hash: number, text: string): number {
  let h = hash ^ text.length;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return mix(h, text.length);
}

function grown<T extends Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** One murmur3-style mixing round of a 32-bit value into the running hash. */
function mix(hash: number, value: number): number {
  let k = Math.imul(value, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let h = hash ^ k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h;
}
