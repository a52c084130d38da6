/**
 * Generic event CSV -> canonical events, RetailRocket style: a header naming the columns, then
 * `timestamp,visitorid,event,itemid[,transactionid]`. Column names (case-insensitive):
 *   ts | timestamp, user_id | visitorid, item_id | itemid, action | event; optional surface,
 *   duration_ms. Other columns are ignored. Parsed as RFC 4180 (csv-parse): quoted fields may hold
 *   commas, quotes ("") and line breaks; a stray quote inside a field is kept as text; a record
 *   the parser cannot read (a quote never closed) is quarantined as `malformed_line` with its
 *   raw text.
 * The Kaggle "eCommerce behavior" layout (`event_time,event_type,product_id,...,user_id,
 * user_session`) is read too: event_time | event_type | product_id are aliases.
 * Timestamps below 1e11 are unix seconds, others epoch milliseconds; a date-time text
 * (`2019-10-01 00:00:00 UTC`, ISO 8601) is read as UTC unless it names an offset.
 * Events: view -> view, addtocart | cart -> click (10 s, a positive), transaction | purchase ->
 * save, remove_from_cart -> hide; the canonical actions (view, closeup, click, save, hide) pass through.
 */
import { type CsvError, parse } from 'csv-parse';
import { ValidationError } from '../util/errors.ts';
import type { ImportSummary, ImportWriterOptions, RawImportRow } from './import-writer.ts';
import { ImportWriter, runImport } from './import-writer.ts';
import { openInput } from './lines.ts';

export const EVENT_MAPPING: Readonly<Record<string, { action: string; durationMs: number | null }>> = {
  view: { action: 'view', durationMs: null },
  addtocart: { action: 'click', durationMs: 10_000 },
  transaction: { action: 'save', durationMs: null },
  cart: { action: 'click', durationMs: 10_000 },
  purchase: { action: 'save', durationMs: null },
  remove_from_cart: { action: 'hide', durationMs: null },
};

const ALIASES: Readonly<Record<string, string>> = {
  ts: 'ts',
  timestamp: 'ts',
  event_time: 'ts',
  user_id: 'user_id',
  visitorid: 'user_id',
  userid: 'user_id',
  item_id: 'item_id',
  itemid: 'item_id',
  product_id: 'item_id',
  action: 'action',
  event: 'action',
  event_type: 'action',
  surface: 'surface',
  duration_ms: 'duration_ms',
};

export interface CsvLayout {
  readonly index: Readonly<Record<string, number>>;
  readonly columns: number;
}

/** Maps header names to canonical columns; throws ValidationError when a required one is missing. */
export function parseHeader(fields: readonly string[]): CsvLayout {
  const header = fields.join(',');
  const names = fields.map((h) =>
    h
      .trim()
      .toLowerCase()
      .replace(/^\ufeff/, ''),
  );
  const index: Record<string, number> = {};
  names.forEach((name, i) => {
    const canonical = ALIASES[name];
    if (canonical !== undefined && index[canonical] === undefined) index[canonical] = i;
  });
  const missing = ['ts', 'user_id', 'item_id', 'action'].filter((c) => index[c] === undefined);
  if (missing.length > 0) {
    throw new ValidationError(`events CSV header lacks ${missing.join(', ')} (got: ${header})`, { header, missing });
  }
  return { index, columns: names.length };
}

/** One record's fields -> a raw row; undefined when it is too short or a number field is not an integer. */
export function parseEventRecord(fields: readonly string[], layout: CsvLayout): RawImportRow | undefined {
  if (fields.length < Object.values(layout.index).reduce((a, b) => Math.max(a, b + 1), 0)) return undefined;
  const get = (name: string): string | null => {
    const i = layout.index[name];
    const v = i === undefined ? undefined : fields[i]?.trim();
    return v === undefined || v === '' ? null : v;
  };
  const tsText = get('ts');
  const durationText = get('duration_ms');
  const raw = tsText === null ? null : parseTimestamp(tsText);
  if (Number.isNaN(raw) || (durationText !== null && !/^-?\d+$/.test(durationText))) return undefined;
  const event = get('action');
  const mapped = event === null ? undefined : EVENT_MAPPING[event.toLowerCase()];
  return {
    user_id: get('user_id'),
    item_id: get('item_id'),
    action: mapped?.action ?? event,
    surface: get('surface'),
    ts: raw === null ? null : Math.abs(raw) < 1e11 ? raw * 1000 : raw,
    duration_ms: durationText !== null ? Number(durationText) : (mapped?.durationMs ?? null),
  };
}

const DATE_TIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(UTC|Z|[+-]\d{2}:?\d{2})?$/i;

/** An integer timestamp as written (seconds or ms, decided by the caller), or a date-time text as
 * epoch ms (UTC unless it names an offset); NaN for anything else. */
export function parseTimestamp(text: string): number {
  if (/^-?\d+$/.test(text)) return Number(text);
  const m = DATE_TIME.exec(text);
  if (m === null) return Number.NaN;
  const zone = m[3] === undefined || /^(utc|z)$/i.test(m[3]) ? 'Z' : m[3].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(`${m[1]}T${m[2]}${zone}`);
  return Number.isFinite(ms) ? ms : Number.NaN;
}

export async function importEventsCsv(
  path: string,
  options: Omit<ImportWriterOptions, 'source'> & { readonly source?: string },
): Promise<ImportSummary> {
  const writer = new ImportWriter({ ...options, source: options.source ?? 'events' });
  return runImport(writer, async () => {
    const input = await openInput(path, (chunk) => writer.hashInput(chunk));
    const parser = input.pipe(
      parse({
        bom: true,
        info: true,
        raw: true,
        relax_column_count: true,
        relax_quotes: true, // a stray quote inside a field is kept, as Python's csv module and pandas do
        skip_empty_lines: true,
        skip_records_with_error: true,
      }),
    );
    // Quarantine lines name where a record starts (the parser counts where it ends).
    const newlines = (text: string) => text.split('\n').length - 1;
    parser.on('skip', (error: CsvError & { raw?: string; lines?: number }) => {
      writer.countLine();
      const raw = error.raw ?? '';
      writer.reject(Number(error.lines ?? 0) - newlines(raw), 'malformed_line', raw.replace(/\r?\n?$/, ''));
    });
    input.on('error', (error) => parser.destroy(error));
    let layout: CsvLayout | undefined;
    for await (const { record, info, raw } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
      raw: string;
    }>) {
      writer.countLine();
      const text = raw.replace(/\r?\n?$/, '');
      const line = info.lines - newlines(text);
      if (layout === undefined) {
        layout = parseHeader(record);
        continue;
      }
      const row = parseEventRecord(record, layout);
      if (row === undefined) writer.reject(line, 'malformed_line', text);
      else await writer.add(line, row, text);
    }
  });
}
