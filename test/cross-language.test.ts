/**
 * Cross-language parity (docs/model-interface.md): the same users at the same cutoff, embedded by
 * PyTorch (the training package's `python -m pinnerformer.embed`, which reads the raw event files)
 * and by this pipeline (TypeScript featurizer + onnxruntime-node, through the daily run's
 * snapshot merge). They must agree to 1e-4. Three models: a random-weight PinnerFormer with M = 32
 * (truncation exercised), built through the training package's export, the same without item
 * vectors (id vocabulary and hash buckets: ids mapped in both languages), and the committed
 * models/demo.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS, dayStartMs } from '../src/events/schema.ts';
import { readModelDirectory } from '../src/inference/model-dir.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { runDaily } from '../src/pipeline/local-runner.ts';
import { stateOf, syntheticDataDir } from './pipeline-helpers.ts';

const ROOT = resolve(import.meta.dirname, '..');
const TRAINING = join(ROOT, 'training');
const PYTHON = join(TRAINING, '.venv', 'bin', 'python');
const [D2, D3] = ['2026-10-03', '2026-10-04'] as const;

let scratch: string;

function python(args: string[]): string {
  return execFileSync(PYTHON, args, { cwd: TRAINING, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'pf-xlang-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function maxAbsDiff(mine: Map<string, { embedding: Float32Array }>, theirs: Record<string, number[]>, users: string[]) {
  let worst = 0;
  for (const u of users) {
    const a = mine.get(u)!.embedding;
    const b = theirs[u]!;
    expect(b).toHaveLength(a.length);
    for (let d = 0; d < a.length; d++) worst = Math.max(worst, Math.abs(a[d]! - b[d]!));
  }
  return worst;
}

describe.each([
  { name: 'a random-weight PinnerFormer (M = 32)', fixture: ['--out'] },
  { name: 'a random-weight id-only PinnerFormer (vocabulary + hash buckets)', fixture: ['--id-only', '--out'] },
  { name: 'the committed demo model', fixture: null },
])('PyTorch and the pipeline embed the same users identically: $name', ({ name, fixture }) => {
  let dataDir: string;
  let modelDir: string;
  let modelVersion: string;
  let local: LocalEmbeddings;

  async function snapshot(date: string) {
    return (await stateOf(dataDir, modelVersion, date)).embeddings; // base + deltas: what readers get
  }

  async function sequenceLengths(date: string, items?: Set<string>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const u of (await stateOf(dataDir, modelVersion, date)).sequences.values()) {
      out.set(u.userId, u.events.length);
      for (const e of u.events) items?.add(e.item_id);
    }
    return out;
  }

  function pytorch(users: readonly string[], date: string): Record<string, number[]> {
    const out = join(scratch, `${fixture ? fixture.join('') : 'demo'}-${date}.json`);
    const cutoff = String(dayStartMs(date) + DAY_MS);
    const data = dataDir;
    python([
      '-m',
      'pinnerformer.embed',
      '--model',
      modelDir,
      '--data',
      data,
      '--cutoff-ms',
      cutoff,
      '--users',
      users.join(','),
      '--out',
      out,
    ]);
    return JSON.parse(readFileSync(out, 'utf8')) as Record<string, number[]>;
  }

  beforeAll(async () => {
    dataDir = await syntheticDataDir(150, 4, '2026-10-01', 9);
    if (fixture) {
      modelDir = mkdtempSync(join(scratch, 'model-'));
      modelVersion = python([join('..', 'test', 'fixtures', 'make_pf_model.py'), ...fixture, modelDir]).trim();
    } else {
      modelDir = join(ROOT, 'models', 'demo');
      modelVersion = (JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as { modelVersion: string })
        .modelVersion;
    }
    local = await openLocalEmbeddings({});
  }, 180_000);

  afterAll(async () => {
    await local?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('agrees to 1e-4 on a first run (sequences built from every earlier day)', async () => {
    // Prepare
    const summary = await runDaily({ dataDir, date: D2, modelDir, partitions: 2, workers: 2, embeddings: local });
    expect(summary.published).toBe(true);
    const mine = await snapshot(D2);
    // 30 users by id plus the 30 longest sequences (the fixture's M = 32 truncates them)
    const items = new Set<string>();
    const lengths = await sequenceLengths(D2, items);
    const longest = [...lengths].sort((a, b) => b[1] - a[1]).slice(0, 30);
    if (fixture) expect(longest[0]![1]).toBe(32);
    const ids = readModelDirectory(modelDir).itemIds;
    if (ids) {
      // both paths of the id map occur: vocabulary ids and hashed unseen ids
      const codes = [...items].map((id) => ids.idOf(id));
      expect(codes.some((c) => c < 2 + ids.size)).toBe(true);
      expect(codes.some((c) => c >= 2 + ids.size)).toBe(true);
    }
    const users = [...new Set([...[...mine.keys()].sort().slice(0, 30), ...longest.map(([u]) => u)])].sort();
    // Act
    const theirs = pytorch(users, D2);
    // Assess
    expect(Object.keys(theirs).sort()).toEqual(users);
    const worst = maxAbsDiff(mine, theirs, users);
    process.stderr.write(
      `cross-language (${name}): ${users.length} users, max |torch - onnx| = ${worst.toExponential(2)}\n`,
    );
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('agrees to 1e-4 after the daily merge (previous snapshot + one day of events)', async () => {
    // Prepare
    const summary = await runDaily({ dataDir, date: D3, modelDir, partitions: 2, workers: 2, embeddings: local });
    expect(summary.published).toBe(true);
    const mine = await snapshot(D3);
    const refreshed = [...mine]
      .filter(([, r]) => r.date === D3)
      .map(([u]) => u)
      .sort()
      .slice(0, 60);
    expect(refreshed.length).toBeGreaterThan(5);
    // Act
    const theirs = pytorch(refreshed, D3);
    // Assess
    const worst = maxAbsDiff(mine, theirs, refreshed);
    process.stderr.write(
      `cross-language (${name}, merged): ${refreshed.length} users, max |torch - onnx| = ${worst.toExponential(2)}\n`,
    );
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});
