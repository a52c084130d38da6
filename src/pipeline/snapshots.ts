import { EVENT_COLUMN_NAMES, EVENT_SCHEMA } from '../events/schema.ts';
import type { SequenceEvent } from '../features/sequence.ts';
import { type ColumnSpec, type ColumnValues, decodeParquet, encodeParquet } from '../io/parquet.ts';

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
  return encodeParquet(SEQUENCE_SCHEMA, {
    user_id: userId,
    item_id: itemId,
    action,
    surface,
    ts,
    duration_ms: duration,
    last_embedded: lastEmbedded,
  });
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
    [
      { name: 'user_id', type: 'utf8' },
      { name: 'date', type: 'utf8' },
      { name: 'embedding', type: 'vector', width: dims },
    ],
    { user_id: rows.map((r) => r.userId), date: rows.map((r) => r.date), embedding: flat },
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
