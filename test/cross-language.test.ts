/**
 * Cross-language parity (docs/model-interface.md): the same users at the same cutoff, embedded by
 * PyTorch (the training package's `python -m pinnerformer.embed`, which reads the raw event files)
 * and by this pipeline (TypeScript featurizer + onnxruntime-node, through the daily run's
 * snapshot merge). They must agree to 1e-4.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS, dayStartMs } from '../src/events/schema.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { layout } from '../src/pipeline/layout.ts';
import { runDaily } from '../src/pipeline/local-runner.ts';
import { decodeEmbeddingSnapshot, decodeSequenceSnapshot } from '../src/pipeline/snapshots.ts';
import { syntheticDataDir } from './pipeline-helpers.ts';

const TRAINING = resolve(import.meta.dirname, '..', 'training');
const PYTHON = join(TRAINING, '.venv', 'bin', 'python');
const [D2, D3] = ['2026-10-03', '2026-10-04'] as const;

let dataDir: string;
let modelDir: string;
let modelVersion: string;
let local: LocalEmbeddings;

function python(args: string[]): string {
  return execFileSync(PYTHON, args, { cwd: TRAINING, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function pipelineSnapshot(date: string): Promise<Map<string, { date: string; embedding: Float32Array }>> {
  const rows = new Map<string, { date: string; embedding: Float32Array }>();
  for (let p = 0; p < 2; p++) {
    const key = layout.embeddings(modelVersion, date, p);
    for (const [u, r] of await decodeEmbeddingSnapshot(readFileSync(join(dataDir, 'objects', key)), key))
      rows.set(u, r);
  }
  return rows;
}

async function sequenceLengths(date: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let p = 0; p < 2; p++) {
    const key = layout.sequences(modelVersion, date, p);
    for (const u of await decodeSequenceSnapshot(readFileSync(join(dataDir, 'objects', key)), key)) {
      out.set(u.userId, u.events.length);
    }
  }
  return out;
}

function pytorchEmbeddings(users: readonly string[], date: string): Record<string, number[]> {
  const out = join(modelDir, `pytorch-${date}.json`);
  python([
    '-m',
    'pinnerformer.embed',
    '--model',
    modelDir,
    '--data',
    join(dataDir, 'objects'),
    '--cutoff-ms',
    String(dayStartMs(date) + DAY_MS),
    '--users',
    users.join(','),
    '--out',
    out,
  ]);
  return JSON.parse(readFileSync(out, 'utf8')) as Record<string, number[]>;
}

beforeAll(async () => {
  dataDir = await syntheticDataDir(150, 4, '2026-10-01', 9);
  modelDir = mkdtempSync(join(tmpdir(), 'pf-xlang-model-'));
  modelVersion = python([join('..', 'test', 'fixtures', 'make_pf_model.py'), '--out', modelDir]).trim();
  local = await openLocalEmbeddings({});
}, 180_000);

afterAll(async () => {
  await local?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(modelDir, { recursive: true, force: true });
});

describe('PyTorch and the pipeline embed the same users identically', () => {
  it('agrees to 1e-4 on a first run (sequences built from every earlier day)', async () => {
    // Prepare
    const summary = await runDaily({ dataDir, date: D2, modelDir, partitions: 2, workers: 2, embeddings: local });
    expect(summary.published).toBe(true);
    const mine = await pipelineSnapshot(D2);
    // 30 users by id plus the 30 longest sequences (truncated to M = 32: the keep-last-M rule)
    const lengths = await sequenceLengths(D2);
    const longest = [...lengths].sort((a, b) => b[1] - a[1]).slice(0, 30);
    expect(longest[0]![1]).toBe(32);
    const users = [...new Set([...[...mine.keys()].sort().slice(0, 30), ...longest.map(([u]) => u)])].sort();
    // Act
    const theirs = pytorchEmbeddings(users, D2);
    // Assess
    expect(Object.keys(theirs).sort()).toEqual(users);
    let worst = 0;
    for (const u of users) {
      const a = mine.get(u)!.embedding;
      const b = theirs[u]!;
      expect(b).toHaveLength(a.length);
      for (let d = 0; d < a.length; d++) worst = Math.max(worst, Math.abs(a[d]! - b[d]!));
    }
    process.stderr.write(`cross-language: ${users.length} users, max |torch - onnx| = ${worst.toExponential(2)}\n`);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('agrees to 1e-4 after the daily merge (previous snapshot + one day of events)', async () => {
    // Prepare
    const summary = await runDaily({ dataDir, date: D3, modelDir, partitions: 2, workers: 2, embeddings: local });
    expect(summary.published).toBe(true);
    const mine = await pipelineSnapshot(D3);
    const refreshed = [...mine]
      .filter(([, r]) => r.date === D3)
      .map(([u]) => u)
      .sort()
      .slice(0, 60);
    expect(refreshed.length).toBeGreaterThan(5);
    // Act
    const theirs = pytorchEmbeddings(refreshed, D3);
    // Assess
    let worst = 0;
    for (const u of refreshed) {
      const a = mine.get(u)!.embedding;
      const b = theirs[u]!;
      for (let d = 0; d < a.length; d++) worst = Math.max(worst, Math.abs(a[d]! - b[d]!));
    }
    process.stderr.write(
      `cross-language (merged): ${refreshed.length} users, max |torch - onnx| = ${worst.toExponential(2)}\n`,
    );
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});
