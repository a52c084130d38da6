/**
 * A day's files as other writers leave them (issue 16, item 4 on the reading side), through the
 * real daily CLI: an upper-case name, ZSTD pages v2, an in-progress copy and the completion marker.
 * The run must read exactly the rows the file holds (the same rows training reads: see
 * test/event-corpus.test.ts) and report the file it ignored.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEventDay } from '../../src/events/read-events.ts';
import { LocalObjectStore } from '../../src/storage/local-object-store.ts';
import { runCli } from '../../src/testing/crash-harness.ts';
import { fixtureModel, syntheticDataDir } from '../pipeline-helpers.ts';

const D1 = '2026-03-01';
const PYTHON = join(process.cwd(), 'training', '.venv', 'bin', 'python');
let dataDir: string;
let expectedEvents: number;

beforeAll(async () => {
  dataDir = await syntheticDataDir(60, 1, D1, 5);
  const objects = dataDir;
  const day = await readEventDay(new LocalObjectStore(objects), D1, { nowMs: Date.UTC(2026, 2, 2) });
  expectedEvents = day.valid.length;
  // Rewrite the day as a Spark job would: PART-00000.PARQUET in ZSTD pages v2, a leftover
  // in-progress copy, and the marker.
  const folder = join(objects, 'events', `dt=${D1}`);
  execFileSync(PYTHON, [
    '-c',
    `
import os, sys, pyarrow.parquet as pq
folder = sys.argv[1]
[name] = [n for n in os.listdir(folder) if n.endswith('.parquet')]
table = pq.read_table(os.path.join(folder, name))
os.remove(os.path.join(folder, name))
pq.write_table(table, os.path.join(folder, 'PART-00000.PARQUET'), compression='zstd', data_page_version='2.0')
pq.write_table(table, os.path.join(folder, 'part-00001.parquet.inprogress'), compression='gzip')
open(os.path.join(folder, '_SUCCESS'), 'w').close()
`,
    folder,
  ]);
}, 120_000);

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('a day written by another tool', { timeout: 300_000 }, () => {
  it('is refused while its _SUCCESS marker is missing, when the deployment requires the marker', async () => {
    // Prepare: the same day before its writer put the marker
    const early = `${dataDir}-early`;
    cpSync(dataDir, early, { recursive: true });
    rmSync(join(early, 'events', `dt=${D1}`, '_SUCCESS'));
    try {
      // Act
      const run = await runCli(
        [
          'daily',
          '--date',
          D1,
          '--model',
          fixtureModel('tiny'),
          '--data',
          early,
          '--partitions',
          '2',
          '--workers',
          '1',
        ],
        { env: { PINNERFORMER_REQUIRE_MARKER: '1' } },
      );
      // Assess
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(
        new RegExp(`events/dt=${D1}/ has no _SUCCESS marker and this deployment requires one`),
      );
      expect(readdirSync(early)).not.toContain('runs');
    } finally {
      rmSync(early, { recursive: true, force: true });
    }
  });

  it('delivered twice is refused with the reason code and count in the CLI output, not a pointer into JSON', async () => {
    // Prepare: the day's file copied under a second name (every row a duplicate)
    const twice = `${dataDir}-twice`;
    cpSync(dataDir, twice, { recursive: true });
    const folder = join(twice, 'events', `dt=${D1}`);
    copyFileSync(join(folder, 'PART-00000.PARQUET'), join(folder, 'PART-00001.PARQUET'));
    try {
      // Act
      const run = await runCli([
        'daily',
        '--date',
        D1,
        '--model',
        fixtureModel('tiny'),
        '--data',
        twice,
        '--partitions',
        '2',
        '--workers',
        '1',
      ]);
      // Assess
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('NOT PUBLISHED');
      expect(run.stdout).toContain(
        `refused: invalid rows 50.00% > 5.00% (quarantined rows in this run: duplicate_row ${expectedEvents})`,
      );
    } finally {
      rmSync(twice, { recursive: true, force: true });
    }
  });

  it('is read whole (upper-case name, ZSTD pages v2) and its in-progress copy is reported, not read', async () => {
    // Prepare
    expect(readdirSync(join(dataDir, 'events', `dt=${D1}`)).sort()).toEqual([
      'PART-00000.PARQUET',
      '_SUCCESS',
      'part-00001.parquet.inprogress',
    ]);
    // Act
    const run = await runCli([
      'daily',
      '--date',
      D1,
      '--model',
      fixtureModel('tiny'),
      '--data',
      dataDir,
      '--partitions',
      '2',
      '--workers',
      '1',
      '--json',
      '--require-marker',
    ]);
    // Assess
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ published: true, events: expectedEvents, invalidEvents: 0 });
    expect(expectedEvents).toBeGreaterThan(0);
    expect(summary.ignoredFiles).toEqual([
      { key: `events/dt=${D1}/part-00001.parquet.inprogress`, reason: 'in_progress' },
    ]);
  });
});
