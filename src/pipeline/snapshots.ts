import { DataError } from '../events/errors.ts';
import { EVENT_COLUMN_NAMES, EVENT_SCHEMA } from '../events/schema.ts';
import { WHOLE_READ_EVENT_FILE } from '../events/write-events.ts';
import type { SequenceEvent } from '../features/sequence.ts';
import {
  type ColumnSpec,
  type ColumnValues,
  decodeParquet,
  decodeVectorColumn,
  type EncodeOptions,
  encodeParquet,
} from '../io/parquet.ts';
import { ValidationError } from '../util/errors.ts';

/**
 * The parquet files the embed stage reads and writes besides the events:
 *   sequence snapshot  user_id, item_id, action, surface, ts, duration_ms, last_embedded
 *                      (one row per kept event; users sorted by id, events in sequence order;
 *                      last_embedded = the date of the user's newest embedding, repeated per row)
 *   embedding snapshot user_id, date, embedding (fixed_size_list<float32>[D]); users sorted by id
 */
export interface UserSequence {
  readonly userId: string;
  readonly events: SequenceEvent[];
  /** Date (YYYY-MM-DD) of the newest embedding under this model, or null when never embedded. */
  readonly lastEmbedded: string | null;
}

const SEQUENCE_SCHEMA: readonly ColumnSpec[] = [
  ...EVENT_SCHEMA,
  { name: 'last_embedded', type: 'utf8', nullable: true },
];

/**
 * Writer settings of both snapshots: they are rewritten every day and only ever read whole, so
 * no min/max statistics (about half of the sequence snapshot's encode time), and no dictionary
 * on the columns whose values hardly repeat (timestamps, durations; the embedding snapshot's user
 * ids and vector values), where building an overflowing dictionary is wasted work. Repeating
 * strings (user_id per event row, item_id, action, surface, dates) keep their dictionary.
 * (The format 2 writer, delta-encoded timestamps, made the sequence snapshot a quarter smaller
 * but was no faster to write and slower to read with hyparquet: not used.)
 */
const SEQUENCE_WRITE: EncodeOptions = WHOLE_READ_EVENT_FILE;
const EMBEDDING_WRITE: EncodeOptions = { statistics: false, dictionary: false, dictionaryColumns: { date: true } };

const EMBEDDING_SCHEMA = (dims: number): readonly ColumnSpec[] => [
  { name: 'user_id', type: 'utf8' },
  { name: 'date', type: 'utf8' },
  { name: 'embedding', type: 'vector', width: dims },
];

const toNumber = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : (v as number));
const toNullableNumber = (v: unknown): number | null => (v === null || v === undefined ? null : toNumber(v));
const at = (values: ColumnValues | undefined, i: number): unknown => (values === undefined ? null : values[i]);

/** Users must be sorted by id (the caller's job) so that equal inputs give equal bytes. */
export function encodeSequenceSnapshot(users: readonly UserSequence[]): Uint8Array {
  let rows = 0;
  for (const user of users) rows += user.events.length;
  const userId = new Array<string>(rows);
  const itemId = new Array<string>(rows);
  const action = new Array<string>(rows);
  const surface = new Array<string | null>(rows);
  const ts = new BigInt64Array(rows);
  const duration = new Array<number | null>(rows);
  const lastEmbedded = new Array<string | null>(rows);
  let r = 0;
  for (const user of users) {
    for (const e of user.events) {
      userId[r] = user.userId;
      itemId[r] = e.item_id;
      action[r] = e.action;
      surface[r] = e.surface;
      ts[r] = BigInt(e.ts);
      duration[r] = e.duration_ms;
      lastEmbedded[r] = user.lastEmbedded;
      r++;
    }
  }
  return encodeParquet(
    SEQUENCE_SCHEMA,
    {
      user_id: userId,
      item_id: itemId,
      action,
      surface,
      ts,
      duration_ms: duration,
      last_embedded: lastEmbedded,
    },
    SEQUENCE_WRITE,
  );
}

export async function decodeSequenceSnapshot(bytes: Uint8Array, file: string): Promise<UserSequence[]> {
  const table = await decodeParquet(bytes, { file });
  const c = table.columns;
  const users: UserSequence[] = [];
  let current: UserSequence | undefined;
  for (let i = 0; i < table.numRows; i++) {
    const userId = at(c.user_id, i) as string;
    if (current === undefined || current.userId !== userId) {
      current = { userId, events: [], lastEmbedded: (at(c.last_embedded, i) as string | null) ?? null };
      users.push(current);
    }
    current.events.push({
      item_id: at(c.item_id, i) as string,
      action: at(c.action, i) as string,
      surface: (at(c.surface, i) as string | null) ?? null,
      ts: toNumber(at(c.ts, i)),
      duration_ms: toNullableNumber(at(c.duration_ms, i)),
    });
  }
  return users;
}

/** Events of a work file (canonical event schema), grouped by user in file order. */
export async function decodeWorkFile(
  bytes: Uint8Array,
  file: string,
  into: Map<string, SequenceEvent[]>,
): Promise<number> {
  const table = await decodeParquet(bytes, { columns: EVENT_COLUMN_NAMES, file });
  const c = table.columns;
  for (let i = 0; i < table.numRows; i++) {
    const userId = at(c.user_id, i) as string;
    let list = into.get(userId);
    if (!list) {
      list = [];
      into.set(userId, list);
    }
    list.push({
      item_id: at(c.item_id, i) as string,
      action: at(c.action, i) as string,
      surface: (at(c.surface, i) as string | null) ?? null,
      ts: toNumber(at(c.ts, i)),
      duration_ms: toNullableNumber(at(c.duration_ms, i)),
    });
  }
  return table.numRows;
}

// ---- columnar form (the embed stage): users as row ranges, no per-event objects for users that
// merely carry over

/** A decoded sequence snapshot, column by column; each user is a range of rows. */
export interface SequenceTable {
  readonly numRows: number;
  readonly itemId: ArrayLike<unknown>;
  readonly action: ArrayLike<unknown>;
  readonly surface: ArrayLike<unknown>;
  /** int64 epoch ms: a BigInt64Array from a required column, else plain values. */
  readonly ts: ArrayLike<unknown>;
  readonly duration: ArrayLike<unknown>;
  /** Users in file order (sorted by id), each with its rows [start, end). */
  readonly users: readonly SequenceRange[];
}

export interface SequenceRange {
  readonly userId: string;
  readonly start: number;
  readonly end: number;
  readonly lastEmbedded: string | null;
}

const EMPTY_COLUMN: readonly unknown[] = [];

export async function decodeSequenceTable(bytes: Uint8Array, file: string): Promise<SequenceTable> {
  const table = await decodeParquet(bytes, { file });
  const c = table.columns;
  const users: SequenceRange[] = [];
  const userIds = c.user_id ?? EMPTY_COLUMN;
  const last = c.last_embedded;
  let start = 0;
  for (let i = 1; i <= table.numRows; i++) {
    if (i < table.numRows && userIds[i] === userIds[start]) continue;
    users.push({
      userId: userIds[start] as string,
      start,
      end: i,
      lastEmbedded: (at(last, start) as string | null) ?? null,
    });
    start = i;
  }
  return {
    numRows: table.numRows,
    itemId: c.item_id ?? EMPTY_COLUMN,
    action: c.action ?? EMPTY_COLUMN,
    surface: c.surface ?? EMPTY_COLUMN,
    ts: c.ts ?? EMPTY_COLUMN,
    duration: c.duration_ms ?? EMPTY_COLUMN,
    users,
  };
}

/** A user's events as objects (only for users whose sequence changes or who are embedded). */
export function eventsOf(table: SequenceTable, range: SequenceRange): SequenceEvent[] {
  const out = new Array<SequenceEvent>(range.end - range.start);
  for (let i = range.start; i < range.end; i++) {
    out[i - range.start] = {
      item_id: table.itemId[i] as string,
      action: table.action[i] as string,
      surface: (table.surface[i] as string | null | undefined) ?? null,
      ts: toNumber(table.ts[i]),
      duration_ms: toNullableNumber(table.duration[i]),
    };
  }
  return out;
}

/**
 * The columns of a new sequence snapshot, minus the per-row user columns: `userIds` and
 * `rowCounts` say whose rows they are (users sorted by id), `last_embedded` is filled per user
 * when encoding. Plain data, so it can be posted to another thread.
 */
export interface SequenceColumns {
  readonly userIds: string[];
  readonly rowCounts: Int32Array;
  readonly itemId: unknown[];
  readonly action: unknown[];
  readonly surface: unknown[];
  readonly ts: BigInt64Array;
  readonly duration: unknown[];
}

/** Builds SequenceColumns from carried row ranges and rebuilt event lists, in user order. */
export class SequenceColumnsBuilder {
  private readonly userIds: string[] = [];
  private readonly counts: number[] = [];
  private readonly parts: ({ table: SequenceTable; range: SequenceRange } | readonly SequenceEvent[])[] = [];
  private rows = 0;

  public get size(): number {
    return this.userIds.length;
  }

  /** Every user so far, in user order (the columns built may hold fewer: build(only)). */
  public get users(): string[] {
    return this.userIds;
  }

  /** Positions whose rows a delta holds: users added (their sequence changed) and `selected` (embedded now), in user order. */
  public changed(selected: readonly number[]): number[] {
    const flags = new Uint8Array(this.parts.length);
    this.parts.forEach((part, u) => {
      if (!('range' in part)) flags[u] = 1;
    });
    for (const u of selected) flags[u] = 1;
    const out: number[] = [];
    flags.forEach((flag, u) => {
      if (flag === 1) out.push(u);
    });
    return out;
  }

  public carry(table: SequenceTable, range: SequenceRange): void {
    this.userIds.push(range.userId);
    this.counts.push(range.end - range.start);
    this.parts.push({ table, range });
    this.rows += range.end - range.start;
  }

  public add(userId: string, events: readonly SequenceEvent[]): void {
    this.userIds.push(userId);
    this.counts.push(events.length);
    this.parts.push(events);
    this.rows += events.length;
  }

  /** The columns of every user, or of the positions `only` (ascending: a delta's users). */
  public build(only?: readonly number[]): SequenceColumns {
    const positions = only ?? this.parts.map((_, u) => u);
    let n = only === undefined ? this.rows : 0;
    if (only !== undefined) for (const u of only) n += this.counts[u]!;
    const itemId = new Array<unknown>(n);
    const action = new Array<unknown>(n);
    const surface = new Array<unknown>(n);
    const ts = new BigInt64Array(n);
    const duration = new Array<unknown>(n);
    let r = 0;
    for (const u of positions) {
      const part = this.parts[u]!;
      if ('range' in part) {
        const { table, range } = part;
        const typedTs = table.ts instanceof BigInt64Array ? table.ts : undefined;
        if (typedTs) ts.set(typedTs.subarray(range.start, range.end), r);
        for (let i = range.start; i < range.end; i++, r++) {
          itemId[r] = table.itemId[i];
          action[r] = table.action[i];
          surface[r] = table.surface[i] ?? null;
          if (!typedTs) ts[r] = BigInt(toNumber(table.ts[i]));
          duration[r] = toNullableNumber(table.duration[i]);
        }
      } else {
        for (const e of part) {
          itemId[r] = e.item_id;
          action[r] = e.action;
          surface[r] = e.surface;
          ts[r] = BigInt(e.ts);
          duration[r] = e.duration_ms;
          r++;
        }
      }
    }
    return {
      userIds: only === undefined ? this.userIds : only.map((u) => this.userIds[u]!),
      rowCounts: only === undefined ? Int32Array.from(this.counts) : Int32Array.from(only, (u) => this.counts[u]!),
      itemId,
      action,
      surface,
      ts,
      duration,
    };
  }
}

/** Encodes SequenceColumns with each user's last_embedded date (same bytes as encodeSequenceSnapshot). */
export function encodeSequenceColumns(columns: SequenceColumns, lastEmbedded: readonly (string | null)[]): Uint8Array {
  // the two per-user columns go in as runs over each user's rows: one UTF-8 encoding per user
  const last = columns.userIds.map((_, u) => lastEmbedded[u] ?? null);
  return encodeParquet(
    SEQUENCE_SCHEMA,
    {
      user_id: { values: columns.userIds, lengths: columns.rowCounts },
      item_id: columns.itemId as string[],
      action: columns.action as string[],
      surface: columns.surface as (string | null)[],
      ts: columns.ts,
      duration_ms: columns.duration as (number | null)[],
      last_embedded: { values: last, lengths: columns.rowCounts },
    },
    SEQUENCE_WRITE,
  );
}

/** An embedding snapshot as one flat array: rows of `vectors` in file order, found by user id. */
export interface FlatEmbeddings {
  readonly index: Map<string, number>;
  readonly dates: readonly string[];
  readonly vectors: Float32Array;
  readonly dims: number;
}

export async function decodeFlatEmbeddings(bytes: Uint8Array, file: string, dims: number): Promise<FlatEmbeddings> {
  const table = await decodeParquet(bytes, { file, columns: ['user_id', 'date'] });
  const ids = table.columns.user_id ?? EMPTY_COLUMN;
  const dates = table.columns.date ?? EMPTY_COLUMN;
  let vectors: Float32Array;
  try {
    // the vector column straight into one flat array (no per-row arrays)
    vectors = await decodeVectorColumn(bytes, 'embedding', dims, file);
  } catch (error) {
    if (error instanceof DataError && error.reason === 'invalid_input') {
      throw new ValidationError(`${file}: ${error.message}`, { file });
    }
    throw error;
  }
  const index = new Map<string, number>();
  const outDates = new Array<string>(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    index.set(ids[i] as string, i);
    outDates[i] = dates[i] as string;
  }
  return { index, dates: outDates, vectors, dims };
}

/** The embedding snapshot from one flat array of `userIds.length` rows (same bytes as encodeEmbeddingSnapshot). */
export function encodeFlatEmbeddings(
  userIds: readonly string[],
  dates: readonly string[],
  vectors: Float32Array,
  dims: number,
): Uint8Array {
  return encodeParquet(EMBEDDING_SCHEMA(dims), { user_id: userIds, date: dates, embedding: vectors }, EMBEDDING_WRITE);
}

export interface EmbeddingSnapshotRow {
  readonly userId: string;
  readonly date: string;
  readonly embedding: Float32Array;
}

export function encodeEmbeddingSnapshot(rows: readonly EmbeddingSnapshotRow[], dims: number): Uint8Array {
  const flat = new Float32Array(rows.length * dims);
  rows.forEach((r, i) => {
    flat.set(r.embedding, i * dims);
  });
  return encodeParquet(
    EMBEDDING_SCHEMA(dims),
    { user_id: rows.map((r) => r.userId), date: rows.map((r) => r.date), embedding: flat },
    EMBEDDING_WRITE,
  );
}

export async function decodeEmbeddingSnapshot(
  bytes: Uint8Array,
  file: string,
): Promise<Map<string, EmbeddingSnapshotRow>> {
  const table = await decodeParquet(bytes, { file });
  const out = new Map<string, EmbeddingSnapshotRow>();
  for (let i = 0; i < table.numRows; i++) {
    const userId = at(table.columns.user_id, i) as string;
    const vector = at(table.columns.embedding, i) as ArrayLike<number>;
    out.set(userId, { userId, date: at(table.columns.date, i) as string, embedding: Float32Array.from(vector) });
  }
  return out;
}
