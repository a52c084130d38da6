/**
 * Importers are atomic and additive (issue 16, item 6), through the real CLI where the user
 * meets them: a second import never overwrites the first, the same input twice is refused
 * unless --overwrite, a bad timestamp is quarantined with its reason instead of aborting, RFC
 * 4180 quoting is honoured, and an import that fails leaves nothing under events/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listEventDays, readEventDay } from '../src/events/read-events.ts';
import type { Event } from '../src/events/schema.ts';
import { importEventsCsv } from '../src/importers/events-csv.ts';
import { importMovieLens } from '../src/importers/movielens.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pf-import-int-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('node', ['bin/pinnerformer.js', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function readAll(dir: string): Promise<Event[]> {
  const store = new LocalObjectStore(dir);
  const events: Event[] = [];
  for (const date of await listEventDays(store)) events.push(...(await readEventDay(store, date)).valid);
  return events;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

const DAY_MS = Date.UTC(2026, 2, 1);
const csv = (rows: string[]) => `timestamp,visitorid,event,itemid\n${rows.join('\n')}\n`;

describe('import through the CLI', () => {
  it('adds a second import of the same day next to the first, refuses a repeat, replaces it with --overwrite', async () => {
    // Prepare: two different exports that both hold 2026-03-01
    const dir = tempDir();
    const out = join(dir, 'out');
    writeFileSync(join(dir, 'a.csv'), csv([`${DAY_MS + 1000},u1,view,i1`, `${DAY_MS + 2000},u2,view,i2`]));
    writeFileSync(join(dir, 'b.csv'), csv([`${DAY_MS + 3000},u3,transaction,i3`]));
    // Act
    const a = await importEventsCsv(join(dir, 'a.csv'), { out });
    const b = await importEventsCsv(join(dir, 'b.csv'), { out });
    const repeat = cli('import', 'events-csv', join(dir, 'a.csv'), '--out', out);
    const afterRepeat = filesUnder(out);
    const replace = await importEventsCsv(join(dir, 'a.csv'), { out, overwrite: true });
    // Assess
    expect(a.files).toHaveLength(1);
    expect(b.files).toHaveLength(1);
    expect(a.files[0]).not.toEqual(b.files[0]);
    expect(repeat.status).toBe(1);
    expect(repeat.stderr).toMatch(/already imported .* as events-\d{8}T\d{6}Z-[0-9a-f]{6} \(2 events in 1 files/);
    expect(repeat.stderr).toMatch(/--overwrite/);
    expect(repeat.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(afterRepeat.filter((f) => f.startsWith('events/'))).toEqual([...a.files, ...b.files].sort());
    expect(replace.replaced).toEqual([a.importId]);
    const events = await readAll(out);
    expect(events.map((e) => e.userId).sort()).toEqual(['u1', 'u2', 'u3']);
    expect(readdirSync(out)).not.toContain('.import-tmp');
  }, 60_000);

  it('quarantines microsecond and huge timestamps with their reason and imports every other row', async () => {
    // Prepare: one microsecond row among good rows (CSV) and a huge MovieLens timestamp
    const dir = tempDir();
    writeFileSync(
      join(dir, 'us.csv'),
      csv([`${DAY_MS + 1000},u1,view,i1`, `${(DAY_MS + 2000) * 1000},u2,view,i2`, `${DAY_MS + 3000},u3,view,i3`]),
    );
    writeFileSync(join(dir, 'u.data'), `1\t2\t5\t${DAY_MS / 1000}\n1\t3\t4\t99999999999999999\n`);
    // Act
    const csvRun = cli('import', 'events-csv', join(dir, 'us.csv'), '--out', join(dir, 'o1'), '--json');
    const ml = await importMovieLens(join(dir, 'u.data'), { out: join(dir, 'o2') });
    // Assess
    expect(csvRun.status).toBe(0);
    const c = JSON.parse(csvRun.stdout);
    expect(c).toMatchObject({ events: 2, rejected: { ts_out_of_range: 1 } });
    const quarantined = readFileSync(c.quarantineFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(quarantined).toEqual([{ line: 3, reason: 'ts_out_of_range', text: `${(DAY_MS + 2000) * 1000},u2,view,i2` }]);
    expect(ml).toMatchObject({ events: 1, rejected: { ts_out_of_range: 1 } });
  }, 60_000);

  it('refuses --out naming a file, in words', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.csv'), csv([`${DAY_MS + 1000},u1,view,i1`]));
    writeFileSync(join(dir, 'file'), 'x');
    const r = cli('import', 'events-csv', join(dir, 'a.csv'), '--out', join(dir, 'file'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--out .*file is a file: give a directory/);
  }, 60_000);
});

describe('events CSV parsing (RFC 4180)', () => {
  it('reads quoted commas, doubled quotes, line breaks and stray quotes; quarantines an unclosed quote with its text', async () => {
    // Prepare
    const dir = tempDir();
    const input = join(dir, 'quoted.csv');
    writeFileSync(
      input,
      [
        'user_id,item_id,action,surface,ts',
        `"u,1","i ""one""",view,home,${DAY_MS + 1000}`,
        `u2,"i\ntwo",save,,${DAY_MS + 2000}`,
        `u3,i"3,view,,${DAY_MS + 3000}`,
        `u4,i4,click,search,${DAY_MS + 4000}`,
        `u5,"i5,view,,${DAY_MS + 5000}`,
        '',
      ].join('\r\n'),
    );
    // Act
    const summary = await importEventsCsv(input, { out: join(dir, 'out') });
    const events = await readAll(join(dir, 'out'));
    // Assess
    expect(events.map((e) => [e.userId, e.itemId, e.action])).toEqual([
      ['u,1', 'i "one"', 'view'],
      ['u2', 'i\ntwo', 'save'],
      ['u3', 'i"3', 'view'],
      ['u4', 'i4', 'click'],
    ]);
    expect(summary.rejected).toEqual({ malformed_line: 1 });
    const [bad] = readFileSync(summary.quarantineFile!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(bad).toEqual({ line: 7, reason: 'malformed_line', text: `u5,"i5,view,,${DAY_MS + 5000}` });
  });

  it('leaves nothing under events/ when an import fails after some days were written', async () => {
    // Prepare: day 2's folder cannot be created (a file holds its name), day 1's files are staged first
    const dir = tempDir();
    const out = join(dir, 'out');
    mkdirSync(join(out, 'events'), { recursive: true });
    writeFileSync(join(out, 'events', 'dt=2026-03-02'), 'not a folder');
    const input = join(dir, 'two-days.data');
    writeFileSync(input, `1\t2\t5\t${DAY_MS / 1000 + 10}\n1\t3\t5\t${DAY_MS / 1000 + 86_400 + 10}\n`);
    // Act
    const attempt = importMovieLens(input, { out });
    // Assess
    await expect(attempt).rejects.toThrow();
    expect(filesUnder(out)).toEqual(['events/dt=2026-03-02']); // no files, no record, no staging
  });
});

// moved from test/importers.test.ts: it starts the CLI, so it runs with the slow suites
describe('the import command', () => {
  it('runs from the CLI', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'pf-import-cli-'));
    const input = join(dir, 'ratings.dat');
    writeFileSync(input, `1::2::5::874717200\n`);
    // Act
    const out = execFileSync(
      'node',
      ['bin/pinnerformer.js', 'import', 'movielens', input, '--out', join(dir, 'o'), '--json'],
      {
        encoding: 'utf8',
      },
    );
    // Assess
    expect(JSON.parse(out)).toMatchObject({ events: 1, rejected: {} });
    rmSync(dir, { recursive: true, force: true });
  });
});
