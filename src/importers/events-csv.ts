/**
 * Generic event CSV -> canonical events, RetailRocket style: a header naming the columns, then
 * `timestamp,visitorid,event,itemid[,transactionid]`. Column names (case-insensitive):
 *   ts | timestamp, user_id | visitorid, item_id | itemid, action | event; optional surface,
 *   duration_ms. Other columns are ignored. Fields are split on commas (no quoted commas).
 * Timestamps below 1e11 are unix seconds, others epoch milliseconds.
 * Events: view -> view, addtocart -> click (10 s, a positive), transaction -> save; the
 * canonical actions (view, closeup, click, save, hide) pass through.
 */
import { ValidationError } from '../util/errors.ts';
import type { ImportSummary, ImportWriterOptions, RawImportRow } from './import-writer.ts';
import { ImportWriter } from './import-writer.ts';
import { readLines } from './lines.ts';

export const EVENT_MAPPING: Readonly<Record<string, { action: string; durationMs: number | null }>> = {
  view: { action: 'view', durationMs: null },
  addtocart: { action: 'click', durationMs: 10_000 },
  transaction: { action: 'save', durationMs: null },
};

const ALIASES: Readonly<Record<string, string>> = {
  ts: 'ts',
  timestamp: 'ts',
  user_id: 'user_id',
  visitorid: 'user_id',
  userid: 'user_id',
  item_id: 'item_id',
  itemid: 'item_id',
  action: 'action',
  event: 'action',
  surface: 'surface',
  duration_ms: 'duration_ms',
};

export interface CsvLayout {
  readonly index: Readonly<Record<string, number>>;
  readonly columns: number;
}

/** Maps header names to canonical columns; throws ValidationError when a required one is missing. */
export function parseHeader(header: string): CsvLayout {
  const names = header.split(',').map((h) =>
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

export function parseEventLine(line: string, layout: CsvLayout): RawImportRow | undefined {
  const fields = line.split(',');
  if (fields.length < Object.values(layout.index).reduce((a, b) => Math.max(a, b + 1), 0)) return undefined;
  const get = (name: string): string | null => {
    const i = layout.index[name];
    const v = i === undefined ? undefined : fields[i]?.trim();
    return v === undefined || v === '' ? null : v;
  };
  const tsText = get('ts');
  const durationText = get('duration_ms');
  if ((tsText !== null && !/^-?\d+$/.test(tsText)) || (durationText !== null && !/^-?\d+$/.test(durationText))) {
    return undefined;
  }
  const raw = tsText === null ? null : Number(tsText);
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

export async function importEventsCsv(
  path: string,
  options: Omit<ImportWriterOptions, 'source'> & { readonly source?: string },
): Promise<ImportSummary> {
  const writer = new ImportWriter({ ...options, source: options.source ?? 'events' });
  let layout: CsvLayout | undefined;
  for await (const { line, lineNumber } of readLines(path)) {
    writer.countLine();
    if (line.trim() === '') continue;
    if (layout === undefined) {
      layout = parseHeader(line);
      continue;
    }
    const row = parseEventLine(line, layout);
    if (row === undefined) writer.reject(lineNumber, 'malformed_line', line);
    else await writer.add(lineNumber, row, line);
  }
  return writer.close();
}
