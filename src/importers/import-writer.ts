/**
 * The common back end of the importers: each parsed row goes through the same row rules as the
 * readers (src/events/validate.ts, except duplicates, which readers drop), valid rows go to a
 * DailyEventWriter (bounded memory, per-day files), and rejected lines are appended to a
 * quarantine file with their reason, so nothing is lost.
 *
 * Atomic and additive: everything is written under `<out>/.import-tmp/<importId>/` first and
 * linked into place only when the whole input has been read, under names no other import uses
 * (`events/dt=D/<importId>-NNNNN.parquet`); a link never replaces an existing file. An import
 * that fails leaves nothing in `events/`. `imports/<importId>.json` records each import (input
 * hash, files), so importing the same input again is refused unless `overwrite` replaces it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { link, mkdir, readdir, readFile, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { dayStartMs, formatDay } from '../events/schema.ts';
import { checkRow } from '../events/validate.ts';
import { DailyEventWriter, directorySink } from '../events/write-events.ts';
import { ConflictError, ValidationError } from '../util/errors.ts';

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
  /** Names this import's files and record: `<source>-<UTC stamp>-<random>`. */
  readonly importId: string;
  readonly lines: number;
  readonly events: number;
  readonly files: readonly string[];
  readonly rowsByDay: Readonly<Record<string, number>>;
  /** Rejected lines by reason: `malformed_line` (unparseable), `ts_out_of_range` or a quarantine reason code. */
  readonly rejected: Readonly<Record<string, number>>;
  readonly quarantineFile?: string;
  /** SHA-256 of the input file's bytes. */
  readonly inputSha256: string;
  /** Earlier imports of the same input that `overwrite` replaced. */
  readonly replaced: readonly string[];
}

export interface ImportWriterOptions {
  readonly out: string;
  /** Names the output files and the quarantine file (with the import id). */
  readonly source: string;
  readonly maxRowsPerFile?: number;
  readonly maxBufferedRows?: number;
  /** "Now" for the future check; default Date.now(). */
  readonly nowMs?: number;
  /** Replace an earlier import of the same input instead of refusing; default false. */
  readonly overwrite?: boolean;
  readonly onProgress?: (message: string) => void;
}

/** Epoch ms of 10000-01-01: a later (or negative) ts is no date (microseconds, nanoseconds, garbage). */
const MAX_TS_MS = 253_402_300_800_000;

interface ImportRecord {
  readonly importId: string;
  readonly source: string;
  readonly inputSha256: string;
  readonly files: readonly string[];
  readonly quarantineFile?: string;
  readonly events: number;
  readonly createdAt: string;
}

function newImportId(source: string): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${source}-${stamp}-${randomBytes(3).toString('hex')}`;
}

export class ImportWriter {
  public readonly importId: string;
  private readonly writer: DailyEventWriter;
  private readonly rejected: Record<string, number> = {};
  private quarantine?: WriteStream;
  private readonly staging: string;
  private readonly quarantineKey: string;
  private readonly hash = createHash('sha256');
  private lines = 0;

  public get out(): string {
    return this.options.out;
  }

  public constructor(private readonly options: ImportWriterOptions) {
    this.importId = newImportId(options.source);
    this.staging = join(options.out, '.import-tmp', this.importId);
    this.writer = new DailyEventWriter({
      sink: directorySink(this.staging),
      filePrefix: this.importId,
      maxRowsPerFile: options.maxRowsPerFile ?? 250_000,
      maxBufferedRows: options.maxBufferedRows ?? 500_000,
    });
    this.quarantineKey = `quarantine/import-${this.importId}.jsonl`;
  }

  /** Feeds the input's raw bytes to the hash that identifies the input (for the re-import check). */
  public hashInput(chunk: Uint8Array | string): void {
    this.hash.update(chunk);
  }

  /** Counts one input line (data or not) for the summary and progress. */
  public countLine(): void {
    this.lines++;
    if (this.lines % 1_000_000 === 0) this.options.onProgress?.(`import ${this.options.source}: ${this.lines} lines`);
  }

  public reject(lineNumber: number, reason: string, line: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    if (!this.quarantine) {
      const path = join(this.staging, this.quarantineKey);
      mkdirSync(dirname(path), { recursive: true });
      this.quarantine = createWriteStream(path);
    }
    this.quarantine.write(`${JSON.stringify({ line: lineNumber, reason, text: line })}\n`);
  }

  /** Validates a parsed row; writes it or rejects it. */
  public async add(lineNumber: number, row: RawImportRow, line: string): Promise<void> {
    if (row.ts !== null && !(Number.isFinite(row.ts) && row.ts >= 0 && row.ts < MAX_TS_MS)) {
      this.reject(lineNumber, 'ts_out_of_range', line);
      return;
    }
    const dayStart = row.ts !== null ? dayStartMs(formatDay(row.ts)) : 0;
    const result = checkRow(row, dayStart, this.options.nowMs ?? Date.now());
    if (typeof result === 'string') {
      this.reject(lineNumber, result, line);
      return;
    }
    if (this.writer.add(result)) await this.writer.flushFull();
  }

  /** Drops everything this import staged: nothing of it becomes visible. */
  public async abort(): Promise<void> {
    await this.endQuarantine().catch(() => undefined);
    await rm(this.staging, { recursive: true, force: true });
  }

  /** Finishes the staged files, refuses a repeated input, then links everything into place. */
  public async close(): Promise<ImportSummary> {
    const written = await this.writer.close();
    await this.endQuarantine();
    const inputSha256 = this.hash.digest('hex');
    const earlier = (await this.records()).filter(
      (r) => r.source === this.options.source && r.inputSha256 === inputSha256,
    );
    if (earlier.length > 0 && !this.options.overwrite) {
      const first = earlier[0]!;
      throw new ConflictError(
        `this input was already imported into ${this.options.out} as ${first.importId} (${first.events} events in ` +
          `${first.files.length} files, ${first.createdAt}); importing it again would count every row twice. ` +
          'Pass --overwrite to replace that import, or import into another --out. Nothing was written.',
        { importId: first.importId, inputSha256 },
      );
    }
    const record: ImportRecord = {
      importId: this.importId,
      source: this.options.source,
      inputSha256,
      files: written.files,
      ...(this.quarantine ? { quarantineFile: this.quarantineKey } : {}),
      events: written.rows,
      createdAt: new Date().toISOString(),
    };
    // The record goes first: a crash while linking leaves a record naming every file, so the
    // same input is refused until --overwrite, which removes whatever of it got in place.
    await this.writeRecord(record);
    const keys = [...written.files, ...(this.quarantine ? [this.quarantineKey] : [])];
    const placed: string[] = [];
    try {
      for (const key of keys) {
        const target = join(this.options.out, key);
        await mkdir(dirname(target), { recursive: true });
        await link(join(this.staging, key), target); // EEXIST rather than replace
        placed.push(target);
      }
    } catch (error) {
      for (const target of placed) await unlink(target).catch(() => undefined);
      await unlink(join(this.options.out, 'imports', `${record.importId}.json`)).catch(() => undefined);
      throw error;
    }
    for (const old of earlier) await this.removeImport(old);
    await rm(this.staging, { recursive: true, force: true });
    await rmdir(join(this.options.out, '.import-tmp')).catch(() => undefined); // only when no other import stages
    return {
      source: this.options.source,
      importId: this.importId,
      lines: this.lines,
      events: written.rows,
      files: written.files,
      rowsByDay: written.rowsByDay,
      rejected: { ...this.rejected },
      quarantineFile: this.quarantine ? join(this.options.out, this.quarantineKey) : undefined,
      inputSha256,
      replaced: earlier.map((r) => r.importId),
    };
  }

  private async endQuarantine(): Promise<void> {
    const stream = this.quarantine;
    if (!stream || stream.closed) return;
    await new Promise<void>((resolve, reject) =>
      stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  }

  private async records(): Promise<ImportRecord[]> {
    const folder = join(this.options.out, 'imports');
    let names: string[];
    try {
      names = await readdir(folder);
    } catch {
      return [];
    }
    const records: ImportRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      records.push(JSON.parse(await readFile(join(folder, name), 'utf8')) as ImportRecord);
    }
    return records;
  }

  private async writeRecord(record: ImportRecord): Promise<void> {
    const path = join(this.options.out, 'imports', `${record.importId}.json`);
    await mkdir(dirname(path), { recursive: true });
    const temp = join(this.staging, 'record.json');
    await writeFile(temp, `${JSON.stringify(record, null, 2)}\n`);
    await link(temp, path);
  }

  private async removeImport(record: ImportRecord): Promise<void> {
    for (const key of [...record.files, ...(record.quarantineFile ? [record.quarantineFile] : [])]) {
      await unlink(join(this.options.out, key)).catch(() => undefined);
    }
    await unlink(join(this.options.out, 'imports', `${record.importId}.json`));
  }
}

/** Runs an import body against a writer: on any failure the staged files go, and the error is rethrown. */
export async function runImport(
  writer: ImportWriter,
  body: (writer: ImportWriter) => Promise<void>,
): Promise<ImportSummary> {
  const out = await stat(writer.out).catch(() => undefined);
  if (out && !out.isDirectory()) {
    throw new ValidationError(`--out ${writer.out} is a file: give a directory (it is created when missing)`, {
      out: writer.out,
    });
  }
  try {
    await body(writer);
    return await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
