/**
 * Bring your own data, end to end, on files in public formats written from the generator
 * (test/public-formats.ts): import -> train (the one training command, a tiny configuration) ->
 * evaluate -> model deploy -> daily -> lookup / recommend, all through the real commands, on data
 * with no item table (and, for MovieLens, no surfaces). The four files are built once.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importEventsCsv } from '../src/importers/events-csv.ts';
import type { ImportSummary } from '../src/importers/import-writer.ts';
import { importMovieLens } from '../src/importers/movielens.ts';
import { layout } from '../src/pipeline/layout.ts';
import { decodeEmbeddingSnapshot } from '../src/pipeline/snapshots.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { type PublicFile, writePublicFormats } from './public-formats.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'pinnerformer.js');
const PYTHON = join(ROOT, 'training', '.venv', 'bin', 'python');
const ENV = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
// 150 steps at width 32: fewer (or width 16) leave users alike enough for the gate's collapse check
const TINY = [
  '--steps',
  '150',
  '--eval-every',
  '0',
  '--layers',
  '1',
  '--hidden',
  '32',
  '--heads',
  '2',
  '--embedding',
  '32',
];
const TINY_MORE = ['--max-length', '32', '--threads', '1', '--protocol', 'leave_last_out'];

let scratch: string;
let files: Map<string, PublicFile>;

async function run(cmd: string, args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(cmd, args, { env: ENV, cwd, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
const cli = (args: string[]) => run('node', [BIN, ...args]);

/** The data root's event files with their bytes, keyed by day (file names differ by importer). */
function eventBytes(dataDir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const day of readdirSync(join(dataDir, 'events')).sort()) {
    const names = readdirSync(join(dataDir, 'events', day)).sort();
    out.set(day, Buffer.concat(names.map((n) => readFileSync(join(dataDir, 'events', day, n)))));
  }
  return out;
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'pf-public-'));
  await generateDataset({ out: join(scratch, 'generated'), users: 300, days: 21, seed: 5, start: '2026-03-01' });
  files = new Map((await writePublicFormats(join(scratch, 'generated'), scratch)).map((f) => [f.format, f]));
}, 120_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('public formats import', () => {
  it('imports u.data, ratings.dat and ratings.csv into the same events, and events.csv, rejecting nothing', async () => {
    // Act
    const summaries = new Map<string, ImportSummary>();
    for (const format of ['u.data', 'ratings.dat', 'ratings.csv', 'events.csv'] as const) {
      const importer = format === 'events.csv' ? importEventsCsv : importMovieLens;
      summaries.set(format, await importer(files.get(format)!.path, { out: join(scratch, `lib-${format}`) }));
    }
    // Assess
    for (const [format, summary] of summaries) {
      expect(summary.rejected, format).toEqual({});
      expect(summary.events, format).toBe(files.get(format)!.rows);
    }
    const dat = eventBytes(join(scratch, 'lib-ratings.dat'));
    expect(dat.size).toBe(21);
    for (const other of ['u.data', 'ratings.csv']) {
      const bytes = eventBytes(join(scratch, `lib-${other}`));
      expect([...bytes.keys()]).toEqual([...dat.keys()]);
      for (const [day, b] of bytes) expect(b.equals(dat.get(day)!), `${other} ${day}`).toBe(true);
    }
  });
});

describe.each(['ratings.dat', 'events.csv'] as const)('bring your own data, end to end: %s', (format) => {
  it('imports, trains, evaluates, deploys, runs the day and serves its users', { timeout: 600_000 }, async () => {
    // Act: import
    const data = join(scratch, `data-${format}`);
    const model = join(scratch, `model-${format}`);
    const { lastDay } = files.get(format)!;
    const kind = format === 'events.csv' ? 'events-csv' : 'movielens';
    const imported = await cli(['import', kind, files.get(format)!.path, '--out', data]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(readdirSync(data)).not.toContain('items');
    // Act: train, evaluate
    const trained = await run(
      PYTHON,
      [
        '-m',
        'pinnerformer.train',
        '--data',
        data,
        '--out',
        model,
        '--checkpoint',
        `${model}.ckpt`,
        ...TINY,
        ...TINY_MORE,
      ],
      join(ROOT, 'training'),
    );
    expect(trained.code, trained.stderr.slice(-2000)).toBe(0);
    // the test line scores every item, then new items only (a film is rated once: every target is new)
    expect(trained.stderr).toMatch(
      format === 'ratings.dat'
        ? /test \(leave_last_out\): recall@10 .* new items only: recall@10 \d/
        : /test \(leave_last_out\): recall@10 .*; (new items only: recall@10 \d|no scored user's positive is an item new)/,
    );
    const metricsFile = join(scratch, `metrics-${format}.json`);
    const evaluated = await run(
      PYTHON,
      [
        '-m',
        'pinnerformer.evaluate',
        '--model',
        model,
        '--data',
        data,
        '--protocol',
        'leave_last_out',
        '--no-frequency',
        '--out',
        metricsFile,
      ],
      join(ROOT, 'training'),
    );
    expect(evaluated.code, evaluated.stderr.slice(-2000)).toBe(0);
    // Act: deploy, the daily run on the last day, lookup and recommend one of its users
    const manifest = JSON.parse(readFileSync(join(model, 'manifest.json'), 'utf8'));
    const deployed = await cli(['model', 'deploy', model, '--data', data]);
    const daily = await cli([
      'daily',
      '--date',
      lastDay,
      '--model',
      model,
      '--data',
      data,
      '--json',
      '--partitions',
      '2',
    ]);
    expect(daily.code, daily.stderr).toBe(0);
    const summary = JSON.parse(daily.stdout);
    const key = layout.embeddings(manifest.modelVersion, lastDay, 0);
    const [user] = [...(await decodeEmbeddingSnapshot(readFileSync(join(data, key)), key)).keys()];
    const lookup = await cli(['lookup', user!, '--json', '--data', data]);
    const recommend = await cli(['recommend', user!, '--k', '5', '--json', '--data', data]);
    // Assess
    expect(manifest.dims.itemVector).toBe(0);
    expect(manifest.items.idVocabulary).not.toBeNull();
    const metrics = JSON.stringify(JSON.parse(readFileSync(metricsFile, 'utf8'))).toLowerCase();
    expect(metrics).toMatch(/recall/);
    expect(deployed.stdout.trim()).toBe(`deployed ${manifest.modelVersion}`);
    expect(summary).toMatchObject({ published: true, date: lastDay, modelVersion: manifest.modelVersion });
    expect(summary.embeddedUsers).toBeGreaterThan(0);
    expect(summary.embeddedUsers).toBeLessThanOrEqual(files.get(format)!.users);
    expect(lookup.code, lookup.stderr).toBe(0);
    expect(JSON.parse(lookup.stdout)).toMatchObject({ userId: user, dims: manifest.dims.embedding });
    expect(recommend.code, recommend.stderr).toBe(0);
    const r = JSON.parse(recommend.stdout);
    expect(r.items).toHaveLength(5);
    expect(r.recent.length).toBeGreaterThan(0);
  });
});
