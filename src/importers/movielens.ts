/**
 * MovieLens ratings -> canonical events. Formats (detected from the first line):
 *   ml-100k u.data     `user<TAB>item<TAB>rating<TAB>unix seconds`
 *   ml-1m ratings.dat  `user::item::rating::unix seconds`
 *   ratings.csv        `userId,movieId,rating,timestamp` with a header (ml-latest, ml-20m, ...);
 *                      columns are found by header name (userId|user_id|user, movieId|movie_id|
 *                      item_id|itemId|item, rating, timestamp|ts), so extra or reordered columns and a
 *                      trailing comma are accepted; without a header the first four are used
 * The rating becomes the action (docs/data.md): >= 4.5 save, 4 click (15 s, a positive),
 * 3-3.5 closeup (5 s), 2-2.5 view, <= 1.5 hide. Surface is null.
 */

import { ValidationError } from '../util/errors.ts';
import type { ImportSummary, ImportWriterOptions, RawImportRow } from './import-writer.ts';
import { ImportWriter, runImport } from './import-writer.ts';
import { readLines } from './lines.ts';

export type MovieLensFormat = 'udata' | 'dat' | 'csv';

export function detectMovieLensFormat(firstLine: string): MovieLensFormat {
  if (firstLine.includes('::')) return 'dat';
  if (firstLine.includes('\t')) return 'udata';
  return 'csv';
}

/** The documented rating -> (action, duration) mapping; null for a rating outside 0..5. */
export function ratingToAction(rating: number): { action: string; durationMs: number | null } | null {
  if (!Number.isFinite(rating) || rating < 0 || rating > 5) return null;
  if (rating >= 4.5) return { action: 'save', durationMs: null };
  if (rating >= 4) return { action: 'click', durationMs: 15_000 };
  if (rating >= 3) return { action: 'closeup', durationMs: 5_000 };
  if (rating >= 2) return { action: 'view', durationMs: null };
  return { action: 'hide', durationMs: null };
}

const INTEGER = /^\d+$/;

/** Where a ratings.csv keeps its four columns (user, item, rating, timestamp). */
export type CsvColumns = readonly [number, number, number, number];
const POSITIONAL: CsvColumns = [0, 1, 2, 3];
const CSV_NAMES: readonly (readonly string[])[] = [
  ['userid', 'user_id', 'user'],
  ['movieid', 'movie_id', 'item_id', 'itemid', 'item'],
  ['rating'],
  ['timestamp', 'ts'],
];

/** The columns of a ratings.csv header; throws when one of the four is missing. */
export function csvColumnsOf(header: string): CsvColumns {
  const names = header.split(',').map((h) =>
    h
      .trim()
      .replace(/^\ufeff/, '')
      .replace(/^"|"$/g, '')
      .toLowerCase(),
  );
  const found = CSV_NAMES.map((aliases) => names.findIndex((n) => aliases.includes(n)));
  const missing = found.flatMap((i, k) => (i < 0 ? [CSV_NAMES[k]![0]!] : []));
  if (missing.length > 0) {
    throw new ValidationError(
      `ratings.csv header lacks ${missing.join(', ')} (got: ${header.trim()}); expected userId,movieId,rating,timestamp`,
      { header, missing },
    );
  }
  return found as unknown as CsvColumns;
}

/** Parses one data line; undefined for a line that does not have the format's shape. */
export function parseMovieLensLine(
  line: string,
  format: MovieLensFormat,
  columns: CsvColumns = POSITIONAL,
): RawImportRow | undefined {
  const fields = format === 'dat' ? line.split('::') : format === 'udata' ? line.split('\t') : line.split(',');
  // ratings.csv may carry more columns than the four (named in its header); the other formats have exactly four
  if (format === 'csv' ? fields.length <= Math.max(...columns) : fields.length !== 4) return undefined;
  const [user, item, ratingText, tsText] = columns.map((c) => fields[c]!.trim()) as [string, string, string, string];
  const rating = Number(ratingText);
  if (ratingText === '' || !INTEGER.test(tsText)) return undefined;
  const mapped = ratingToAction(rating);
  return {
    user_id: user,
    item_id: item,
    action: mapped?.action ?? `rating:${ratingText}`,
    surface: null,
    ts: Number(tsText) * 1000,
    duration_ms: mapped?.durationMs ?? null,
  };
}

export async function importMovieLens(
  path: string,
  options: Omit<ImportWriterOptions, 'source'> & { readonly source?: string },
): Promise<ImportSummary> {
  const writer = new ImportWriter({ ...options, source: options.source ?? 'movielens' });
  return runImport(writer, async () => {
    let format: MovieLensFormat | undefined;
    let columns: CsvColumns = POSITIONAL;
    for await (const { line, lineNumber } of readLines(path, (chunk) => writer.hashInput(chunk))) {
      writer.countLine();
      if (line.trim() === '') continue;
      if (format === undefined) {
        format = detectMovieLensFormat(line);
        if (format === 'csv' && /^[^\d]/.test(line.trim())) {
          columns = csvColumnsOf(line);
          continue;
        }
      }
      const row = parseMovieLensLine(line, format, columns);
      if (row === undefined) writer.reject(lineNumber, 'malformed_line', line);
      else await writer.add(lineNumber, row, line);
    }
  });
}
