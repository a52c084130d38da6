/**
 * MovieLens ratings -> canonical events. Formats (detected from the first line):
 *   ml-100k u.data     `user<TAB>item<TAB>rating<TAB>unix seconds`
 *   ml-1m ratings.dat  `user::item::rating::unix seconds`
 *   ratings.csv        `userId,movieId,rating,timestamp` with a header (ml-latest, ml-20m, ...)
 * The rating becomes the action (docs/data.md): >= 4.5 save, 4 click (15 s, a positive),
 * 3-3.5 closeup (5 s), 2-2.5 view, <= 1.5 hide. Surface is null.
 */
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

/** Parses one data line; undefined for a line that does not have the format's shape. */
export function parseMovieLensLine(line: string, format: MovieLensFormat): RawImportRow | undefined {
  const fields = format === 'dat' ? line.split('::') : format === 'udata' ? line.split('\t') : line.split(',');
  if (fields.length !== 4) return undefined;
  const [user, item, ratingText, tsText] = fields.map((f) => f.trim()) as [string, string, string, string];
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
    for await (const { line, lineNumber } of readLines(path, (chunk) => writer.hashInput(chunk))) {
      writer.countLine();
      if (line.trim() === '') continue;
      if (format === undefined) {
        format = detectMovieLensFormat(line);
        if (format === 'csv' && /^[^\d]/.test(line.trim())) continue; // header
      }
      const row = parseMovieLensLine(line, format);
      if (row === undefined) writer.reject(lineNumber, 'malformed_line', line);
      else await writer.add(lineNumber, row, line);
    }
  });
}
