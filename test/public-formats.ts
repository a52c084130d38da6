/**
 * Files in public data-set formats, written from the generator's events (public data sets may not
 * be committed): MovieLens ml-100k `u.data`, ml-1m `ratings.dat`, ml-latest `ratings.csv`, and a
 * RetailRocket-style `events.csv`. Ids become the integers those data sets use; MovieLens keeps
 * whole seconds and a rating per event, the retail file views, add-to-carts and transactions.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listEventDays, readEventDay } from '../src/events/read-events.ts';
import type { Event } from '../src/events/schema.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';

export type PublicFormat = 'u.data' | 'ratings.dat' | 'ratings.csv' | 'events.csv';

export interface PublicFile {
  readonly format: PublicFormat;
  readonly path: string;
  /** Data lines written (header excluded). */
  readonly rows: number;
  readonly users: number;
  /** The last day with events (YYYY-MM-DD). */
  readonly lastDay: string;
}

/** Rating per action: whole stars (u.data, ratings.dat) or ml-latest's half stars (ratings.csv). */
function rating(e: Event, halfStars: boolean): string | undefined {
  const positiveClick = (e.action === 'click' || e.action === 'closeup') && (e.durationMs ?? 0) >= 10_000;
  const stars =
    e.action === 'save'
      ? 5
      : positiveClick
        ? 4
        : e.action === 'closeup' || e.action === 'click'
          ? 3
          : e.action === 'view'
            ? 2
            : 1;
  if (!halfStars) return String(stars);
  return { 5: '4.5', 4: '4.0', 3: '3.5', 2: '2.5', 1: '1.0' }[stars];
}

const RETAIL_EVENT: Record<string, string | undefined> = {
  view: 'view',
  closeup: 'view',
  click: 'addtocart',
  save: 'transaction',
};

/** Reads the generated data root `dataDir` and writes the four files into `outDir`. */
export async function writePublicFormats(dataDir: string, outDir: string): Promise<PublicFile[]> {
  const store = new LocalObjectStore(dataDir);
  const events: Event[] = [];
  const days = await listEventDays(store);
  for (const day of days) events.push(...(await readEventDay(store, day, { nowMs: Date.UTC(2100, 0, 1) })).valid);
  const userNumber = new Map<string, number>();
  for (const e of events) if (!userNumber.has(e.userId)) userNumber.set(e.userId, userNumber.size + 1);
  const itemNumber = (id: string): number => Number(id.replace(/\D/g, '')) + 1;
  const lastDay = days[days.length - 1]!;
  const out: PublicFile[] = [];
  const write = (format: PublicFormat, header: string | null, lines: string[]): void => {
    const path = join(outDir, format);
    writeFileSync(path, `${header === null ? '' : `${header}\n`}${lines.join('\n')}\n`);
    out.push({ format, path, rows: lines.length, users: userNumber.size, lastDay });
  };
  const ml = (sep: string, halfStars: boolean): string[] =>
    events.map((e) =>
      [userNumber.get(e.userId), itemNumber(e.itemId), rating(e, halfStars), Math.floor(e.ts / 1000)].join(sep),
    );
  write('u.data', null, ml('\t', false));
  write('ratings.dat', null, ml('::', false));
  write('ratings.csv', 'userId,movieId,rating,timestamp', ml(',', true));
  let transaction = 0;
  const retail = events
    .filter((e) => RETAIL_EVENT[e.action] !== undefined)
    .map((e) => {
      const event = RETAIL_EVENT[e.action]!;
      const tid = event === 'transaction' ? String(++transaction) : '';
      return [e.ts, userNumber.get(e.userId), event, itemNumber(e.itemId), tid].join(',');
    });
  write('events.csv', 'timestamp,visitorid,event,itemid,transactionid', retail);
  return out;
}
