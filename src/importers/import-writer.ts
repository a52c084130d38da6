/**
 * The common back end of the importers: each parsed row goes through the same row rules as the
 * readers (src/events/validate.ts, except duplicates, which readers drop), valid rows go to a
 * DailyEventWriter (bounded memory, per-day files), and rejected lines are appended to
 * `quarantine/import-<source>.jsonl` with their reason, so nothing is lost.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { dayStartMs, formatDay } from '../events/schema.ts';
import { checkRow } from '../events/validate.ts';
import { DailyEventWriter, directorySink } from '../events/write-events.ts';

/** Raw row as parsed from a line (before validation). */
export interface RawImportRow {
  readonly user_id: string | null;
  readonly item_id: string | null;
  readonly action: string | null;
  readonly surface: string | null;
  readonly ts: number | null;
  readonly duration_ms: number | null;
}

export interface ImportSummary {
  readonly source: string;
  readonly lines: number;
  readonly events: number;
  readonly files: readonly string[];
  readonly rowsByDay: Readonly<Record<string, number>>;
  /** Rejected lines by reason: `malformed_line` (unparseable) or a quarantine reason code. */
  readonly rejected: Readonly<Record<string, number>>;
  readonly quarantineFile?: string;
}

export interface ImportWriterOptions {
  readonly out: string;
  /** Names the output files (`events/dt=D/<source>-NNNNN.parquet`) and the quarantine file. */
  readonly source: string;
  readonly maxRowsPerFile?: number;
  readonly maxBufferedRows?: number;
  /** "Now" for the future check; default Date.now(). */
  readonly nowMs?: number;
  readonly onProgress?: (message: string) => void;
}

export class ImportWriter {
  private readonly writer: DailyEventWriter;
  private readonly rejected: Record<string, number> = {};
  private quarantine?: WriteStream;
  private readonly quarantinePath: string;
  private lines = 0;

  public constructor(private readonly options: ImportWriterOptions) {
    this.writer = new DailyEventWriter({
      sink: directorySink(options.out),
      filePrefix: options.source,
      maxRowsPerFile: options.maxRowsPerFile ?? 250_000,
      maxBufferedRows: options.maxBufferedRows ?? 500_000,
    });
    this.quarantinePath = join(options.out, 'quarantine', `import-${options.source}.jsonl`);
  }

  /** Counts one input line (data or not) for the summary and progress. */
  public countLine(): void {
    this.lines++;
    if (this.lines % 1_000_000 === 0) this.options.onProgress?.(`import ${this.options.source}: ${this.lines} lines`);
  }

  public reject(lineNumber: number, reason: string, line: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    if (!this.quarantine) {
      mkdirSync(join(this.options.out, 'quarantine'), { recursive: true });
      this.quarantine = createWriteStream(this.quarantinePath);
    }
    this.quarantine.write(`${JSON.stringify({ line: lineNumber, reason, text: line })}\n`);
  }

  /** Validates a parsed row; writes it or rejects it. */
  public async add(lineNumber: number, row: RawImportRow, line: string): Promise<void> {
    const dayStart = row.ts !== null && Number.isFinite(row.ts) ? dayStartMs(formatDay(row.ts)) : 0;
    const result = checkRow(row, dayStart, this.options.nowMs ?? Date.now());
    if (typeof result === 'string') {
      this.reject(lineNumber, result, line);
      return;
    }
    if (this.writer.add(result)) await this.writer.flushFull();
  }

  public async close(): Promise<ImportSummary> {
    const written = await this.writer.close();
    if (this.quarantine) {
      const stream = this.quarantine;
      await new Promise<void>((resolve, reject) =>
        stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
    }
    return {
      source: this.options.source,
      lines: this.lines,
      events: written.rows,
      files: written.files,
      rowsByDay: written.rowsByDay,
      rejected: { ...this.rejected },
      quarantineFile: this.quarantine ? this.quarantinePath : undefined,
    };
  }
}
