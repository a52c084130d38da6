import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ItemTable } from '../src/features/item-table.ts';
import type { SequenceEvent } from '../src/features/sequence.ts';
import { OnnxEmbedder, planBatches } from '../src/inference/embedder.ts';
import { readModelDirectory } from '../src/inference/model-dir.ts';
import { ModelError } from '../src/util/errors.ts';
import { fixtureModel } from './pipeline-helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: tests edit arbitrary manifest fields
type Manifest = Record<string, any>;
const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of a fixture model directory with its manifest edited. */
function editedModel(name: 'tiny', edit: (manifest: Manifest) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'pf-model-'));
  temps.push(dir);
  cpSync(fixtureModel(name), dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  edit(manifest);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

const items = ItemTable.empty(32);

function sequence(n: number, seed: number): SequenceEvent[] {
  return Array.from({ length: n }, (_, t) => ({
    item_id: `i${(seed * 7 + t) % 13}`,
    action: ['view', 'closeup', 'click', 'save'][(seed + t) % 4]!,
    surface: t % 3 === 0 ? null : 'home',
    ts: 1_790_000_000_000 + seed * 1000 + t * 60_000,
    duration_ms: t % 2 ? 1500 * t : null,
  }));
}

describe('model directory validation', () => {
  it('refuses a directory that lacks a file', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'pf-model-'));
    temps.push(dir);
    cpSync(fixtureModel('tiny'), dir, { recursive: true });
    rmSync(join(dir, 'item_embeddings.parquet'));
    // Act / Assess
    expect(() => readModelDirectory(dir)).toThrow(/lacks item_embeddings.parquet/);
  });

  it('names the wrong manifest fields', () => {
    // Prepare
    const dir = editedModel('tiny', (m) => {
      m.dims.maxLength = -1;
      delete m.vocab.action;
    });
    // Act / Assess
    expect(() => readModelDirectory(dir)).toThrow(/dims\.maxLength.*vocab\.action|vocab\.action.*dims\.maxLength/);
  });

  it('refuses a manifest whose item vector width differs from the graph', async () => {
    // Prepare
    const dir = editedModel('tiny', (m) => {
      m.dims.itemVector = 16;
    });
    // Act / Assess
    await expect(OnnxEmbedder.open(readModelDirectory(dir), ItemTable.empty(16))).rejects.toThrow(
      /item_vec has width 32/,
    );
  });

  it('refuses a manifest whose embedding size differs from the output', async () => {
    // Prepare
    const dir = editedModel('tiny', (m) => {
      m.dims.embedding = 64;
    });
    // Act / Assess
    await expect(OnnxEmbedder.open(readModelDirectory(dir), items)).rejects.toThrow(/returns 8 values per user/);
  });

  it('refuses models that output NaN or one constant vector before anything runs', async () => {
    // Act / Assess
    await expect(OnnxEmbedder.open(readModelDirectory(fixtureModel('nan')), items)).rejects.toThrow(/not finite/);
    await expect(OnnxEmbedder.open(readModelDirectory(fixtureModel('collapse')), items)).rejects.toThrow(/collapsed/);
  });

  it('fails loudly when CUDA is requested but unavailable (no quiet CPU fallback)', async () => {
    // Act
    const opening = OnnxEmbedder.open(readModelDirectory(fixtureModel('tiny')), items, { executionProvider: 'cuda' });
    // Assess
    await expect(opening).rejects.toBeInstanceOf(ModelError);
    await expect(opening).rejects.toThrow(/CUDA execution provider/);
  });
});

describe('CPU-tuned graph (manifest files.onnxCpu)', () => {
  /** tiny with a second graph listed as its CPU graph: tiny's own (exact) or tiny-b's (other weights). */
  function withCpuGraph(from: 'tiny' | 'tiny-b' | null): string {
    const dir = editedModel('tiny', (m) => {
      m.files = { ...(m.files ?? {}), onnx: 'model.onnx', onnxCpu: 'model.cpu.onnx' };
    });
    if (from !== null) cpSync(join(fixtureModel(from), 'model.onnx'), join(dir, 'model.cpu.onnx'));
    return dir;
  }

  it('runs the CPU graph on the CPU when it matches the portable graph', async () => {
    // Prepare
    const model = readModelDirectory(withCpuGraph('tiny'));
    // Act
    const embedder = await OnnxEmbedder.open(model, items, { threads: 1 });
    await embedder.release();
    // Assess
    expect(model.cpuOnnxPath).toMatch(/model\.cpu\.onnx$/);
    expect(embedder.file).toBe('model.cpu.onnx');
  });

  it('refuses a CPU graph that disagrees with model.onnx on the probe batch', async () => {
    // Act
    const opening = OnnxEmbedder.open(readModelDirectory(withCpuGraph('tiny-b')), items, { threads: 1 });
    // Assess
    await expect(opening).rejects.toBeInstanceOf(ModelError);
    await expect(opening).rejects.toThrow(/model\.cpu\.onnx disagrees with model\.onnx/);
  });

  it('refuses a directory whose manifest lists a CPU graph that is not there', () => {
    // Act / Assess
    expect(() => readModelDirectory(withCpuGraph(null))).toThrow(/lacks model\.cpu\.onnx/);
  });

  it('runs the portable graph when a directory has no CPU graph', async () => {
    // Act
    const embedder = await OnnxEmbedder.open(readModelDirectory(fixtureModel('tiny')), items, { threads: 1 });
    await embedder.release();
    // Assess
    expect(embedder.file).toBe('model.onnx');
  });
});

describe('batched inference', () => {
  it('buckets by length: each batch pads only to its own longest sequence', () => {
    // Prepare
    const lengths = [1, 16, 2, 15, 3, 1, 16, 2];
    // Act
    const batches = planBatches(lengths, 3, 32);
    // Assess: every user once; within a batch lengths are close
    expect(batches.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(3);
      expect(b.length * Math.max(...b.map((i) => lengths[i]!))).toBeLessThanOrEqual(32);
    }
    expect(batches[0]!.map((i) => lengths[i])).toEqual([1, 1, 2]);
  });

  it('gives each user the same embedding alone or in a padded batch, in input order', async () => {
    // Prepare
    const embedder = await OnnxEmbedder.open(readModelDirectory(fixtureModel('tiny')), items, {
      maxBatchSize: 4,
      threads: 1,
    });
    const sequences = [sequence(16, 1), sequence(1, 2), sequence(7, 3), sequence(3, 4), sequence(12, 5)];
    const cutoff = 1_790_100_000_000;
    // Act
    const together = new Map<number, Float32Array>();
    for await (const batch of embedder.embed(sequences, cutoff)) {
      for (const [row, i] of batch.indices.entries()) together.set(i, batch.embeddings.slice(row * 8, (row + 1) * 8));
    }
    const alone: Float32Array[] = [];
    for (const s of sequences) for await (const batch of embedder.embed([s], cutoff)) alone.push(batch.embeddings);
    await embedder.release();
    // Assess
    sequences.forEach((_, i) => {
      const a = alone[i]!;
      const b = together.get(i)!;
      for (let d = 0; d < 8; d++) expect(Math.abs(a[d]! - b[d]!)).toBeLessThan(1e-5);
    });
    expect(Math.abs(together.get(0)![0]! - together.get(1)![0]!)).toBeGreaterThan(0);
  });
});
