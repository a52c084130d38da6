/** The local CLI commands end to end, as a user runs them (one process per command). */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel, fixtureModelVersion, syntheticDataDir } from './pipeline-helpers.ts';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'pinnerformer.js');
const MV = fixtureModelVersion('tiny');
let dataDir: string;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [BIN, ...args], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dataDir = await syntheticDataDir(120, 3, '2026-10-01', 4);
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('pinnerformer daily / versions / lookup / rollback', () => {
  it('prints exactly one JSON summary with --json and progress on stderr', async () => {
    // Act
    const common = ['--model', fixtureModel('tiny'), '--data', dataDir, '--partitions', '2'];
    const first = await cli(['daily', '--date', '2026-10-02', ...common, '--json']);
    const second = await cli(['daily', '--date', '2026-10-03', ...common, '--pipelining', 'on']);
    // Assess
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]!);
    for (const key of [
      'date',
      'modelVersion',
      'version',
      'partitions',
      'events',
      'invalidEvents',
      'activeUsers',
      'embeddedUsers',
      'published',
      'secondsByStage',
    ]) {
      expect(summary).toHaveProperty(key);
    }
    expect(summary).toMatchObject({
      date: '2026-10-02',
      modelVersion: MV,
      version: `${MV}@2026-10-02`,
      partitions: 2,
      published: true,
    });
    // how busy inference kept the embed stage, in time and (Linux) in CPU
    expect(summary.inference).toMatchObject({ lanes: expect.any(Number), pipelined: expect.any(Boolean) });
    expect(summary.inference.busyShare).toBeGreaterThan(0);
    expect(summary.inference.busyShare).toBeLessThanOrEqual(1);
    if (process.platform === 'linux') {
      // measured in whole 10 ms ticks (a tiny model's runs may add up to none), as a share of the stage's CPU
      const { cpuSeconds, cpuShare, stageCpuSeconds } = summary.inference;
      expect(Number.isFinite(cpuSeconds)).toBe(true);
      expect(cpuSeconds * 100).toBeCloseTo(Math.round(cpuSeconds * 100), 6);
      expect(stageCpuSeconds).toBeGreaterThan(0);
      expect(cpuShare).toBeCloseTo(cpuSeconds / stageCpuSeconds, 9);
      expect(cpuSeconds).toBeLessThanOrEqual(stageCpuSeconds);
    }
    expect(first.stderr).toMatch(/partitions done/);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/PUBLISHED/);
    expect(second.stdout).toMatch(/inference: \d+ lanes? \(pipelined\) busy \d+% of the embed stage/);
  });

  it('lists versions, looks a user up, pins and rolls back', async () => {
    // Act
    const versions = JSON.parse((await cli(['versions', '--json', '--data', dataDir])).stdout);
    // Assess
    expect(versions.current).toBe(`${MV}@2026-10-03`);
    expect(versions.versions.map((v: { version: string; published: boolean }) => [v.version, v.published])).toEqual([
      [`${MV}@2026-10-02`, true],
      [`${MV}@2026-10-03`, true],
    ]);
    // Prepare: any user the first day embedded
    const { decodeEmbeddingSnapshot } = await import('../src/pipeline/snapshots.ts');
    const { readFileSync } = await import('node:fs');
    const key = `embeddings/model=${MV}/dt=2026-10-02/part-00000.parquet`;
    const [userId] = [...(await decodeEmbeddingSnapshot(readFileSync(join(dataDir, key)), key)).keys()];
    // Act
    const found = JSON.parse((await cli(['lookup', userId!, '--json', '--data', dataDir])).stdout);
    const pinned = JSON.parse(
      (await cli(['lookup', userId!, '--version', `${MV}@2026-10-02`, '--json', '--data', dataDir])).stdout,
    );
    const rollback = await cli(['rollback', '--to', `${MV}@2026-10-02`, '--data', dataDir]);
    const after = JSON.parse((await cli(['versions', '--json', '--data', dataDir])).stdout);
    const unknown = await cli(['lookup', 'nobody-at-all', '--data', dataDir]);
    const badFlag = await cli(['daily', '--date', '2026-10-02', '--partitions', 'zero', '--data', dataDir]);
    const badPipelining = await cli(['daily', '--date', '2026-10-02', '--pipelining', 'maybe', '--data', dataDir]);
    const deployed = await cli(['model', 'deploy', fixtureModel('tiny-b'), '--data', dataDir]);
    const refused = await cli(['model', 'deploy', fixtureModel('nan'), '--data', dataDir]);
    // Assess
    expect(found).toMatchObject({ userId, version: `${MV}@2026-10-03`, modelVersion: MV, dims: 8 });
    expect(found.embedding).toHaveLength(8);
    expect(pinned).toMatchObject({ userId, version: `${MV}@2026-10-02`, date: '2026-10-02' });
    expect(rollback.code).toBe(0);
    expect(after.current).toBe(`${MV}@2026-10-02`);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND.*nobody-at-all/);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/--partitions: expected a whole number/);
    expect(badPipelining.code).toBe(2);
    expect(badPipelining.stderr).toMatch(/--pipelining/);
    expect(deployed.stdout.trim()).toBe(`deployed ${fixtureModelVersion('tiny-b')}`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error \[MODEL\].*not finite/);
  });
});

describe('one data layout for generate, import, training and daily', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'pf-layout-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('runs daily --data X on what generate --out X wrote', async () => {
    // Prepare
    const data = join(scratch, 'generated');
    const generated = await cli(['generate', '--out', data, '--users', '60', '--days', '2', '--start', '2026-10-01']);
    expect(generated.code, generated.stderr).toBe(0);
    // Act
    const daily = await cli([
      'daily',
      '--date',
      '2026-10-02',
      '--data',
      data,
      '--model',
      fixtureModel('tiny'),
      '--json',
    ]);
    // Assess
    expect(daily.code, daily.stderr).toBe(0);
    expect(JSON.parse(daily.stdout)).toMatchObject({ published: true, date: '2026-10-02' });
    expect(existsSync(join(data, 'dynamodb'))).toBe(true);
    expect(existsSync(join(data, 'runs'))).toBe(true);
  });

  it('refuses a wrong layout with the folder to use, and creates nothing', async () => {
    // Prepare: events one level down (the layout of earlier versions), and an empty folder
    const nested = join(scratch, 'nested');
    const generated = await cli(['generate', '--out', join(scratch, 'tmp'), '--users', '20', '--days', '1']);
    expect(generated.code, generated.stderr).toBe(0);
    mkdirSync(nested);
    renameSync(join(scratch, 'tmp'), join(nested, 'objects'));
    const empty = join(scratch, 'empty');
    mkdirSync(empty);
    // Act
    const wrong = await cli(['daily', '--date', '2026-01-01', '--data', nested, '--model', fixtureModel('tiny')]);
    const none = await cli(['daily', '--date', '2026-01-01', '--data', empty, '--model', fixtureModel('tiny')]);
    const missing = await cli(['daily', '--date', '2026-01-01', '--data', join(scratch, 'nowhere')]);
    // Assess
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`pass --data ${join(nested, 'objects')}`);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/has no events\/ folder.*generate --out DIR/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist/);
    expect(existsSync(join(nested, 'dynamodb'))).toBe(false);
    expect(existsSync(join(empty, 'dynamodb'))).toBe(false);
    expect(existsSync(join(scratch, 'nowhere'))).toBe(false);
  });
});
