/**
 * Benchmark inputs: deterministic full-length sequences, an item table with random pretrained
 * vectors, and featurized batches written to disk for the PyTorch side (same bytes, same inputs).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FeatureBatch } from '../src/features/featurize.ts';
import { ItemTable } from '../src/features/item-table.ts';
import type { SequenceEvent } from '../src/features/sequence.ts';
import type { ModelManifest } from '../src/inference/manifest.ts';
import { Rng } from '../src/synth/rng.ts';

/** Items the synthetic sequences draw from. */
export const ITEM_POOL = 4096;
/** The cutoff every benchmark batch is featurized at (a fixed date keeps runs comparable). */
export const BENCH_CUTOFF_MS = Date.UTC(2026, 0, 31);

export function benchItemTable(dim: number, seed = 1): ItemTable {
  const rng = new Rng(seed);
  return new ItemTable(
    dim,
    Array.from({ length: ITEM_POOL }, (_, i) => ({
      itemId: `item-${i}`,
      vector: Float32Array.from({ length: dim }, () => rng.normal() * 0.3),
    })),
  );
}

/** `count` users with exactly `length` events each, spread over the 30 days before the cutoff. */
export function fullLengthSequences(
  manifest: ModelManifest,
  count: number,
  length: number,
  seed = 2,
): SequenceEvent[][] {
  const rng = new Rng(seed);
  const { action, surface } = manifest.vocab;
  return Array.from({ length: count }, () => {
    let ts = BENCH_CUTOFF_MS - 30 * 86_400_000;
    return Array.from({ length }, () => {
      ts += 1 + rng.int(Math.floor((30 * 86_400_000) / length));
      return {
        item_id: `item-${rng.int(ITEM_POOL)}`,
        action: action[rng.int(action.length)]!,
        surface: surface.length === 0 ? null : surface[rng.int(surface.length)]!,
        ts,
        duration_ms: rng.int(60_000),
      };
    });
  });
}

/** Copies a batch into one right-padded to `length` positions (the padded-to-M baseline). */
export function padBatch(batch: FeatureBatch, length: number): FeatureBatch {
  const { batchSize: b, length: l } = batch;
  const rows = (width: number) => ({ from: l * width, to: length * width });
  const widenF32 = (src: Float32Array, width: number): Float32Array => {
    const { from, to } = rows(width);
    const out = new Float32Array(b * to);
    for (let r = 0; r < b; r++) out.set(src.subarray(r * from, (r + 1) * from), r * to);
    return out;
  };
  const widenI64 = (src: BigInt64Array): BigInt64Array => {
    const out = new BigInt64Array(b * length);
    for (let r = 0; r < b; r++) out.set(src.subarray(r * l, (r + 1) * l), r * length);
    return out;
  };
  return {
    batchSize: b,
    length,
    itemVec: widenF32(batch.itemVec, batch.itemVec.length / (b * l)),
    itemId: widenI64(batch.itemId),
    action: widenI64(batch.action),
    surface: widenI64(batch.surface),
    timeFrac: widenF32(batch.timeFrac, batch.timeFrac.length / (b * l)),
    scalars: widenF32(batch.scalars, 4),
    lengths: batch.lengths,
  };
}

/** Writes a batch for bench/python/torch_server.py: meta.json plus one raw file per input. */
export function writeBatch(dir: string, batch: FeatureBatch): string {
  mkdirSync(dir, { recursive: true });
  const { batchSize: b, length: l } = batch;
  const inputs = [
    { name: 'item_vec', data: batch.itemVec, dtype: 'float32', shape: [b, l, batch.itemVec.length / (b * l)] },
    { name: 'item_id', data: batch.itemId, dtype: 'int64', shape: [b, l] },
    { name: 'action', data: batch.action, dtype: 'int64', shape: [b, l] },
    { name: 'surface', data: batch.surface, dtype: 'int64', shape: [b, l] },
    { name: 'time_frac', data: batch.timeFrac, dtype: 'float32', shape: [b, l, batch.timeFrac.length / (b * l)] },
    { name: 'scalars', data: batch.scalars, dtype: 'float32', shape: [b, l, 4] },
    { name: 'lengths', data: batch.lengths, dtype: 'int64', shape: [b] },
  ];
  for (const input of inputs) {
    writeFileSync(
      join(dir, `${input.name}.bin`),
      new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.byteLength),
    );
  }
  writeFileSync(
    join(dir, 'meta.json'),
    JSON.stringify({ inputs: inputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })) }),
  );
  return dir;
}
