/**
 * Integrity of what is served (issue 16, docs/reliability.md): each class of failure reproduced
 * through the real CLI (one process per command) on the embedded table, against a clean timeline
 * of the same data built once. Classes: a future run date; a refused rerun of the served date; a
 * refused day before later days; ignored, late and changed input.
 */
import { cpSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalEmbeddings } from '../../src/local/local-embeddings.ts';
import { type CliRun, runCli } from '../../src/testing/crash-harness.ts';
import { fixtureModel, fixtureModelVersion, stateOf, syntheticDataDir } from '../pipeline-helpers.ts';

const [D1, D2, D3, D4, D5] = ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05'] as const;
const MV = fixtureModelVersion('tiny');
const P = 2;

let base: string; // events only
let clean: string; // D1..D5 run in order, nothing wrong
const dirs: string[] = [];

function daily(dataDir: string, date: string, ...extra: string[]): Promise<CliRun> {
  return runCli([
    'daily',
    '--date',
    date,
    '--model',
    fixtureModel('tiny'),
    '--data',
    dataDir,
    '--partitions',
    String(P),
    '--workers',
    '1',
    '--json',
    ...extra,
  ]);
}

function copyOf(dir: string): string {
  const copy = `${base}-copy${dirs.length}`;
  cpSync(dir, copy, { recursive: true });
  dirs.push(copy);
  return copy;
}

function summaryOf(run: CliRun): Record<string, unknown> {
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

/** Every user's served answer (date and vector) under the current pointer, and the version records. */
async function served(dataDir: string, users: readonly string[]) {
  const local = await openLocalEmbeddings({ dataDir, store: { wallClockExpiry: false } });
  try {
    const answers = await local.store.lookupMany(users);
    const byUser = new Map([...answers].map(([u, r]) => [u, `${r.date}:${r.embedding.join(',')}`]));
    return { answers: byUser, versions: await local.store.listVersions(), pointer: await local.store.getPointer() };
  } finally {
    await local.close();
  }
}

/** Users of a published version's embedding snapshot (everyone with a sequence at that date). */
async function snapshotUsers(dataDir: string, date: string, attempt?: string): Promise<string[]> {
  return [...(await stateOf(dataDir, MV, date, attempt)).embeddings.keys()].sort();
}

/** The state's events per user (base + deltas), without the last-embedded marks (which depend on run history). */
async function sequences(dataDir: string, date: string, attempt?: string): Promise<string> {
  const state = await stateOf(dataDir, MV, date, attempt);
  return [...state.sequences.values()]
    .map((user) => `${user.userId}:${JSON.stringify(user.events)}`)
    .sort()
    .join('\n');
}

const dayDir = (dataDir: string, date: string) => join(dataDir, 'events', `dt=${date}`);

beforeAll(async () => {
  base = await syntheticDataDir(100, 5, D1, 3);
  clean = copyOf(base);
  for (const date of [D1, D2, D3, D4, D5]) {
    const run = await daily(clean, date);
    expect(run.code, run.stderr).toBe(0);
  }
}, 600_000);

afterAll(() => {
  for (const dir of [base, ...dirs]) rmSync(dir, { recursive: true, force: true });
});

// Each case runs the real CLI a few times (tsx start-up, model load, dynalite): minutes on a busy 2-core host.
describe('integrity of what is served', { timeout: 600_000 }, () => {
  it('a run date after today is refused before anything is written; ignored files are reported', async () => {
    const dir = copyOf(base);
    mkdirSync(dayDir(dir, '2099-01-01'), { recursive: true });
    const [file] = readdirSync(dayDir(dir, D1));
    cpSync(join(dayDir(dir, D1), file!), join(dayDir(dir, '2099-01-01'), file!));
    const run = await daily(dir, '2099-01-01');
    expect(run.code).toBe(2); // bad input
    expect(run.stderr).toMatch(/run date 2099-01-01 is after today/);
    expect(readdirSync(dir).sort()).toEqual(readdirSync(base).sort()); // no table, no models/, no runs/
    // the real days still publish; files beside the data that are not read are named with why
    writeFileSync(join(dayDir(dir, D1), 'part-00001.parquet.inprogress'), 'x');
    writeFileSync(join(dayDir(dir, D1), 'notes.txt'), 'x');
    const real = summaryOf(await daily(dir, D1));
    expect(real).toMatchObject({ published: true });
    expect(real.ignoredFiles).toEqual([
      { key: `events/dt=${D1}/notes.txt`, reason: 'not_parquet' },
      { key: `events/dt=${D1}/part-00001.parquet.inprogress`, reason: 'in_progress' },
    ]);
  });

  it('a refused rerun of the served date changes nothing readers get, nor the published record', async () => {
    const dir = copyOf(clean);
    const users = await snapshotUsers(dir, D5);
    const before = await served(dir, users);
    writeFileSync(join(dayDir(dir, D5), 'part-99999.parquet'), ''); // a 0-byte file: the gate refuses
    const rerun = await daily(dir, D5);
    expect(rerun.code).toBe(1);
    expect(summaryOf(rerun)).toMatchObject({ published: false, attempt: expect.stringMatching(/^[a-z0-9]+$/) });
    const after = await served(dir, users);
    expect(after.answers.size).toBe(users.length);
    expect(after.answers).toEqual(before.answers);
    expect(after.versions).toEqual(before.versions);
    expect(after.pointer).toEqual(before.pointer);
  });

  it('after a refused day, the next run catches its events up: everyone with history is served', async () => {
    const dir = copyOf(base);
    expect((await daily(dir, D1)).code).toBe(0);
    const bad = join(dayDir(dir, D2), 'part-99999.parquet');
    writeFileSync(bad, '');
    const refused = await daily(dir, D2);
    expect(summaryOf(refused)).toMatchObject({ published: false });
    // the bad file is still there: the next day reads D2 again and is refused too, naming it
    const blocked = await daily(dir, D3);
    expect(summaryOf(blocked)).toMatchObject({ published: false });
    expect(blocked.stdout).toMatch(/unusable/);
    rmSync(bad);
    const next = await daily(dir, D3);
    expect(summaryOf(next)).toMatchObject({ published: true });
    const users = await snapshotUsers(clean, D3);
    expect(await snapshotUsers(dir, D3)).toEqual(users);
    expect((await served(dir, users)).answers.size).toBe(users.length);
    expect(await sequences(dir, D3)).toEqual(await sequences(clean, D3));
  });

  it('a day folder without data files is refused, naming what it ignored', async () => {
    const dir = copyOf(base);
    const folder = dayDir(dir, D1);
    const [file] = readdirSync(folder);
    renameSync(join(folder, file!), join(folder, `${file}.inprogress`));
    const inProgress = await daily(dir, D1);
    expect(inProgress.code).toBe(1);
    expect(inProgress.stderr).toMatch(
      /no data file for 2026-03-01 in .*part-00000\.parquet\.inprogress \(in_progress\)/,
    );
    rmSync(join(folder, `${file}.inprogress`));
    writeFileSync(join(folder, '_SUCCESS'), '');
    const markerOnly = await daily(dir, D1);
    expect(markerOnly.code).toBe(1);
    expect(markerOnly.stderr).toMatch(/no data file for 2026-03-01 in events\/dt=2026-03-01\/: only _SUCCESS/);
    expect(readdirSync(dir)).not.toContain('runs');
  });

  it('a day that arrives after later days ran is reported, and the replay puts it in the sequences', async () => {
    const dir = copyOf(base);
    const away = join(dir, 'late-D3');
    renameSync(dayDir(dir, D3), away);
    for (const date of [D2, D4]) expect((await daily(dir, date)).code).toBe(0);
    renameSync(away, dayDir(dir, D3));
    const next = summaryOf(await daily(dir, D5));
    expect(next).toMatchObject({
      published: true,
      inputChanges: [{ day: D3, kind: 'late' }],
      replay: `pinnerformer daily --date ${D5} --replay-from ${D3}`,
    });
    expect(await sequences(dir, D5)).not.toEqual(await sequences(clean, D5));
    const replay = await daily(dir, D5, '--replay-from', D3);
    const summary = summaryOf(replay);
    expect(summary).toMatchObject({ published: true });
    expect(summary.inputChanges).toBeUndefined();
    expect(await sequences(dir, D5, summary.attempt as string)).toEqual(await sequences(clean, D5));
    // the served answers now come from the replayed attempt
    const users = await snapshotUsers(clean, D5);
    expect((await served(dir, users)).answers.size).toBe(users.length);
  });

  it('a day whose files change after it ran is reported as changed', async () => {
    const dir = copyOf(clean);
    const folder = dayDir(dir, D1);
    const [file] = readdirSync(folder);
    cpSync(join(folder, file!), join(folder, 'part-00009.parquet'));
    const rerun = summaryOf(await daily(dir, D5)); // reads D5 only: D1 is in the published state
    expect(rerun).toMatchObject({ inputChanges: [{ day: D1, kind: 'changed' }] });
    expect(rerun.replay).toBe(`pinnerformer daily --date ${D5} --replay-from ${D1}`);
  });
});
