import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listEventDays, readEventDay } from '../src/events/read-events.ts';
import type { Event } from '../src/events/schema.ts';
import { importEventsCsv } from '../src/importers/events-csv.ts';
import { importMovieLens, ratingToAction } from '../src/importers/movielens.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { ValidationError } from '../src/util/errors.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pf-import-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function readAll(dir: string): Promise<Event[]> {
  const store = new LocalObjectStore(dir);
  const events: Event[] = [];
  for (const date of await listEventDays(store)) events.push(...(await readEventDay(store, date)).valid);
  return events;
}

// 1997-09-20 and 1997-09-21 (UTC), in unix seconds.
const T1 = 874_713_600 + 3600;
const T2 = 874_800_000 + 7200;

describe('movielens importer', () => {
  const cases = {
    'u.data': `196\t242\t5\t${T1}\n186\t302\t4\t${T1}\n22\t377\t3\t${T2}\n244\t51\t2\t${T2}\n166\t346\t1\t${T2}\n`,
    'ratings.dat': `196::242::5::${T1}\n186::302::4::${T1}\n22::377::3::${T2}\n244::51::2::${T2}\n166::346::1::${T2}\n`,
    'ratings.csv': `userId,movieId,rating,timestamp\n196,242,4.5,${T1}\n186,302,4.0,${T1}\n22,377,3.5,${T2}\n244,51,2.5,${T2}\n166,346,0.5,${T2}\n`,
  };

  for (const [name, text] of Object.entries(cases)) {
    it(`imports ${name} into daily files with the documented rating mapping`, async () => {
      // Prepare
      const dir = tempDir();
      const input = join(dir, name);
      writeFileSync(input, text);
      const out = join(dir, 'out');
      // Act
      const summary = await importMovieLens(input, { out });
      const events = await readAll(out);
      // Assess
      expect(summary.events).toBe(5);
      expect(summary.rejected).toEqual({});
      expect(await listEventDays(new LocalObjectStore(out))).toEqual(['1997-09-20', '1997-09-21']);
      expect(events.map((e) => [e.userId, e.itemId, e.action, e.durationMs])).toEqual([
        ['196', '242', 'save', null],
        ['186', '302', 'click', 15_000],
        ['22', '377', 'closeup', 5_000],
        ['244', '51', 'view', null],
        ['166', '346', 'hide', null],
      ]);
      expect(events[0]!.ts).toBe(T1 * 1000);
    });
  }

  it('reads ratings.csv columns by header name: extra, reordered columns and a trailing comma', async () => {
    // Prepare
    const dir = tempDir();
    const input = join(dir, 'ratings.csv');
    writeFileSync(input, `timestamp,movieId,userId,rating,tag,\r\n${T1},242,196,4.5,funny,\r\n${T2},302,186,3,,\r\n`);
    // Act
    const summary = await importMovieLens(input, { out: join(dir, 'out') });
    const events = await readAll(join(dir, 'out'));
    // Assess
    expect(summary.rejected).toEqual({});
    expect(events.map((e) => [e.userId, e.itemId, e.action, e.ts])).toEqual([
      ['196', '242', 'save', T1 * 1000],
      ['186', '302', 'closeup', T2 * 1000],
    ]);
  });

  it('refuses a ratings.csv header without the four columns, naming the missing one', async () => {
    const dir = tempDir();
    const input = join(dir, 'ratings.csv');
    writeFileSync(input, `userId,movieId,score,timestamp\n196,242,4.5,${T1}\n`);
    await expect(importMovieLens(input, { out: join(dir, 'out') })).rejects.toThrow(/lacks rating/);
  });

  it('rejects malformed lines and bad ratings into a quarantine file', async () => {
    // Prepare
    const dir = tempDir();
    const input = join(dir, 'u.data');
    writeFileSync(input, `1\t2\t5\t${T1}\nnot a rating line\n1\t3\t7\t${T1}\n\t4\t5\t${T1}\n`);
    // Act
    const summary = await importMovieLens(input, { out: join(dir, 'out') });
    // Assess
    expect(summary.events).toBe(1);
    expect(summary.rejected).toEqual({ malformed_line: 1, unknown_action: 1, missing_user_id: 1 });
    const lines = readFileSync(summary.quarantineFile!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.line, l.reason])).toEqual([
      [2, 'malformed_line'],
      [3, 'unknown_action'],
      [4, 'missing_user_id'],
    ]);
    expect(ratingToAction(4)).toEqual({ action: 'click', durationMs: 15_000 });
  });

  it('keeps memory bounded: many days and small buffers still give every row, in bounded files', async () => {
    // Prepare: 30 days x 40 rows, in shuffled day order, with a 25-row buffer
    const dir = tempDir();
    const input = join(dir, 'u.data');
    const rows: string[] = [];
    for (let i = 0; i < 1200; i++) rows.push(`u${i % 97}\tm${i}\t4\t${T1 + ((i * 7) % 30) * 86_400}`);
    writeFileSync(input, `${rows.join('\n')}\n`);
    // Act
    const summary = await importMovieLens(input, { out: join(dir, 'out'), maxRowsPerFile: 10, maxBufferedRows: 25 });
    // Assess
    expect(summary.events).toBe(1200);
    expect(Object.keys(summary.rowsByDay).length).toBe(30);
    expect(summary.files.length).toBeGreaterThanOrEqual(120);
    expect((await readAll(join(dir, 'out'))).length).toBe(1200);
  });
});

describe('events-csv importer', () => {
  it('maps RetailRocket events and writes per-day files', async () => {
    // Prepare
    const dir = tempDir();
    const input = join(dir, 'events.csv');
    const ms = T1 * 1000;
    writeFileSync(
      input,
      [
        'timestamp,visitorid,event,itemid,transactionid',
        `${ms},257597,view,355908,`,
        `${ms + 1000},257597,addtocart,355908,`,
        `${ms + 2000},257597,transaction,355908,4000`,
        `${ms + 86_400_000},992329,view,248676,`,
        `${ms},992329,wishlist,248676,`,
        `${ms},,view,1,`,
        'garbage',
      ].join('\n'),
    );
    // Act
    const summary = await importEventsCsv(input, { out: join(dir, 'out') });
    const events = await readAll(join(dir, 'out'));
    // Assess
    expect(events.map((e) => [e.userId, e.itemId, e.action, e.durationMs, e.ts])).toEqual([
      ['257597', '355908', 'view', null, ms],
      ['257597', '355908', 'click', 10_000, ms + 1000],
      ['257597', '355908', 'save', null, ms + 2000],
      ['992329', '248676', 'view', null, ms + 86_400_000],
    ]);
    expect(summary.rejected).toEqual({ unknown_action: 1, missing_user_id: 1, malformed_line: 1 });
  });

  it('maps the eCommerce behavior layout: date-time text, cart, purchase, remove_from_cart', async () => {
    // Prepare
    const dir = tempDir();
    const input = join(dir, '2019-Oct.csv');
    writeFileSync(
      input,
      [
        'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session',
        '2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde',
        '2019-10-01 00:00:05 UTC,cart,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde',
        '2019-10-01 00:01:00 UTC,remove_from_cart,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde',
        '2019-10-01T02:00:00+02:00,purchase,3900821,2053013552326770905,appliances.water_heater,aqua,33.20,554748717,9333dfbd',
        'yesterday,view,1,2,,,1.0,3,4',
      ].join('\n'),
    );
    // Act
    const summary = await importEventsCsv(input, { out: join(dir, 'out') });
    const events = await readAll(join(dir, 'out'));
    // Assess
    const t = Date.UTC(2019, 9, 1);
    expect(events.map((e) => [e.userId, e.itemId, e.action, e.durationMs, e.ts])).toEqual([
      ['541312140', '44600062', 'view', null, t],
      ['541312140', '44600062', 'click', 10_000, t + 5000],
      ['541312140', '44600062', 'hide', null, t + 60_000],
      ['554748717', '3900821', 'save', null, t],
    ]);
    expect(summary.rejected).toEqual({ malformed_line: 1 });
  });

  it('reads canonical column names with surface and duration, and second timestamps', async () => {
    // Prepare
    const dir = tempDir();
    const input = join(dir, 'canon.csv');
    writeFileSync(
      input,
      `user_id,item_id,action,surface,ts,duration_ms\nu1,i1,closeup,search,${T1},12000\nu1,i2,click,,${T1},-5\n`,
    );
    // Act
    const summary = await importEventsCsv(input, { out: join(dir, 'out') });
    const events = await readAll(join(dir, 'out'));
    // Assess
    expect(events).toEqual([
      { userId: 'u1', itemId: 'i1', action: 'closeup', surface: 'search', ts: T1 * 1000, durationMs: 12_000 },
    ]);
    expect(summary.rejected).toEqual({ negative_duration: 1 });
  });

  it('refuses a header without the required columns', async () => {
    const dir = tempDir();
    const input = join(dir, 'bad.csv');
    writeFileSync(input, 'a,b,c\n1,2,3\n');
    await expect(importEventsCsv(input, { out: join(dir, 'out') })).rejects.toThrow(ValidationError);
  });
});
