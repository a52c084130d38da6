import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ItemIdMap } from '../features/item-ids.ts';
import { ModelError } from '../util/errors.ts';
import { type ModelManifest, parseModelManifest } from './manifest.ts';

/** Files every model directory holds (docs/model-interface.md). */
export const MODEL_FILES = ['model.onnx', 'manifest.json', 'item_embeddings.parquet'] as const;

export interface ModelDirectory {
  readonly dir: string;
  readonly manifest: ModelManifest;
  /** The portable graph (every execution provider; its hash names the version). */
  readonly onnxPath: string;
  /**
   * An exact CPU-tuned graph of the same weights (manifest files.onnxCpu: ONNX `Attention` nodes),
   * or null. Only onnxruntime's CPU provider uses it; the embedder checks it against `onnxPath`.
   */
  readonly cpuOnnxPath: string | null;
  /** The item-id vocabulary and hash buckets (manifest.items), or null without a vocabulary. */
  readonly itemIds: ItemIdMap | null;
}

function readIdVocabulary(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  if (path.endsWith('.json')) {
    const ids: unknown = JSON.parse(text);
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
      throw new ModelError(`${path} must hold a JSON array of item ids`, { path });
    }
    return ids;
  }
  return text.split('\n').filter((line) => line.length > 0);
}

/**
 * Checks a local model directory before anything uses it: every file present and non-empty, the
 * manifest valid, the id vocabulary readable. Shape checks against the ONNX graph happen when the
 * session opens (OnnxEmbedder.open).
 */
export function readModelDirectory(dir: string): ModelDirectory {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelError(`model directory ${dir} does not exist`, { dir });
  }
  for (const file of MODEL_FILES) {
    const path = join(dir, file);
    if (!existsSync(path) || statSync(path).size === 0) {
      throw new ModelError(`model directory ${dir} lacks ${file}`, { dir, file });
    }
  }
  const manifest = parseModelManifest(readFileSync(join(dir, 'manifest.json'), 'utf8'), join(dir, 'manifest.json'));
  let itemIds: ItemIdMap | null = null;
  if (manifest.items.idVocabulary !== null) {
    const path = join(dir, manifest.items.idVocabulary);
    if (!existsSync(path)) {
      throw new ModelError(`model directory ${dir} lacks the id vocabulary ${manifest.items.idVocabulary}`, { dir });
    }
    itemIds = new ItemIdMap(readIdVocabulary(path), manifest.items.hashBuckets);
  }
  let cpuOnnxPath: string | null = null;
  if (manifest.files.onnxCpu !== undefined) {
    cpuOnnxPath = join(dir, manifest.files.onnxCpu);
    if (!existsSync(cpuOnnxPath) || statSync(cpuOnnxPath).size === 0) {
      throw new ModelError(`model directory ${dir} lacks ${manifest.files.onnxCpu} (manifest files.onnxCpu)`, {
        dir,
        file: manifest.files.onnxCpu,
      });
    }
  }
  return { dir, manifest, onnxPath: join(dir, 'model.onnx'), cpuOnnxPath, itemIds };
}
