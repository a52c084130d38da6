/**
 * Writing canonical event files. `encodeEvents` turns rows or columns into one parquet file;
 * `DailyEventWriter` takes events in any day order and writes `events/dt=D/<prefix>-NNNNN.parquet`
 * files of at most `maxRowsPerFile` rows, keeping at most `maxBufferedRows` rows in memory.
 */
import { type EncodeOptions, encodeParquet } from '../io/parquet.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { DataError } from './errors.ts';
import { EVENT_SCHEMA, type Event, eventDayPrefix, formatDay } from './schema.ts';

/** Column-oriented events (what the generator produces without building row objects). */
export interface EventColumns {
  readonly userId: readonly string[];
  readonly itemId: readonly string[];
  readonly action: readonly string[];
  readonly surface: readonly (string | null)[];
  /** Epoch ms. */
  readonly ts: BigInt64Array | readonly number[];
  readonly durationMs: readonly (number | null)[];
}

const INT32_MAX = 2_147_483_647;

/**
 * Writer settings for event-schema files that only this pipeline reads, and only whole (the
 * partition stage's work files, the sequence snapshots): no min/max statistics (about half of the
 * encode time on string columns, and no reader filters on them) and no dictionary on `ts` and
 * `duration_ms`, whose values hardly repeat. Event files others may read keep the defaults.
 */
export const WHOLE_READ_EVENT_FILE: EncodeOptions = {
  statistics: false,
  dictionaryColumns: { ts: false, duration_ms: false },
};

function columnsOf(events: readonly Event[]): EventColumns {
  return {
    userId: events.map((e) => e.userId),
    itemId: events.map((e) => e.itemId),
    action: events.map((e) => e.action),
    surface: events.map((e) => e.surface),
    ts: events.map((e) => e.ts),
    durationMs: events.map((e) => e.durationMs),
  };
}

/** One parquet event file (schema EVENT_SCHEMA); `options` default to encodeParquet's. */
export function encodeEvents(events: readonly Event[] | EventColumns, options: EncodeOptions = {}): Uint8Array {
  const c = Array.isArray(events) ? columnsOf(events as readonly Event[]) : (events as EventColumns);
  for (let i = 0; i < c.durationMs.length; i++) {
    const d = c.durationMs[i];
    if (d !== null && d !== undefined && (!Number.isInteger(d) || d < -INT32_MAX || d > INT32_MAX)) {
      throw new DataError('invalid_input', `duration_ms ${d} at row ${i} is not a 32-bit integer`);
    }
  }
  return encodeParquet(
    EVENT_SCHEMA,
    {
      user_id: c.userId,
      item_id: c.itemId,
      action: c.action,
      surface: c.surface,
      ts: c.ts,
      duration_ms: c.durationMs,
    },
    options,
  );
}

/** Where files go: a directory, an ObjectStore's put, or a test's Map. */
export type FileSink = (key: string, body: Uint8Array | string) => Promise<void>;

/** Writes `key` under `dir` atomically (the local object store: temp file + rename). */
export function directorySink(dir: string): FileSink {
  const store = new LocalObjectStore(dir);
  return (key, body) => store.put(key, body);
}

export interface DailyEventWriterOptions {
  readonly sink: FileSink;
  /** File name prefix inside each day folder; default 'part'. */
  readonly filePrefix?: string;
  /** Rows per file; default 500000. */
  readonly maxRowsPerFile?: number;
  /** Rows held in memory over all days before the largest day is flushed; default 2000000. */
  readonly maxBufferedRows?: number;
}

export interface WriteSummary {
  readonly rows: number;
  readonly files: readonly string[];
  readonly rowsByDay: Readonly<Record<string, number>>;
}

export class DailyEventWriter {
  private readonly buffers = new Map<string, Event[]>();
  private readonly partsByDay = new Map<string, number>();
  private readonly rowsByDay: Record<string, number> = {};
  private readonly files: string[] = [];
  private buffered = 0;
  private rows = 0;
  private readonly maxRowsPerFile: number;
  private readonly maxBufferedRows: number;

  public constructor(private readonly options: DailyEventWriterOptions) {
    this.maxRowsPerFile = options.maxRowsPerFile ?? 500_000;
    this.maxBufferedRows = options.maxBufferedRows ?? 2_000_000;
    if (this.maxRowsPerFile < 1 || this.maxBufferedRows < 1) {
      throw new DataError('invalid_input', 'maxRowsPerFile and maxBufferedRows must be positive');
    }
  }

  /** Buffers one event (its day is the UTC day of ts). Returns true when `flushFull()` should be awaited. */
  public add(event: Event): boolean {
    const day = formatDay(event.ts);
    let buffer = this.buffers.get(day);
    if (!buffer) {
      buffer = [];
      this.buffers.set(day, buffer);
    }
    buffer.push(event);
    this.buffered++;
    return buffer.length >= this.maxRowsPerFile || this.buffered >= this.maxBufferedRows;
  }

  /** Writes full day buffers, and the largest ones while over the memory bound. */
  public async flushFull(): Promise<void> {
    for (const [day, buffer] of this.buffers) {
      if (buffer.length >= this.maxRowsPerFile) await this.flushDay(day);
    }
    while (this.buffered >= this.maxBufferedRows) {
      let largest: string | undefined;
      for (const [day, buffer] of this.buffers) {
        if (largest === undefined || buffer.length > this.buffers.get(largest)!.length) largest = day;
      }
      if (largest === undefined) break;
      await this.flushDay(largest);
    }
  }

  /** Writes everything left and returns what was written. */
  public async close(): Promise<WriteSummary> {
    for (const day of [...this.buffers.keys()].sort()) await this.flushDay(day);
    return { rows: this.rows, files: [...this.files], rowsByDay: { ...this.rowsByDay } };
  }

  private async flushDay(day: string): Promise<void> {
    const buffer = this.buffers.get(day);
    if (!buffer || buffer.length === 0) return;
    this.buffers.delete(day);
    for (let start = 0; start < buffer.length; start += this.maxRowsPerFile) {
      const slice = buffer.slice(start, start + this.maxRowsPerFile);
      const part = this.partsByDay.get(day) ?? 0;
      this.partsByDay.set(day, part + 1);
      const key = `${eventDayPrefix(day)}${this.options.filePrefix ?? 'part'}-${String(part).padStart(5, '0')}.parquet`;
      await this.options.sink(key, encodeEvents(slice));
      this.files.push(key);
      this.rowsByDay[day] = (this.rowsByDay[day] ?? 0) + slice.length;
      this.rows += slice.length;
    }
    this.buffered -= buffer.length;
  }
}
