import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

/** manifest `versionCovers`: the version's hash is over every file of the directory (export.py). */
export const CONTENT_VERSION_SCHEME = 'contents';

/**
 * The hash a `versionCovers: "contents"` model version ends in (training/pinnerformer/export.py
 * `content_digest`): SHA-256 over `name NUL sha256(bytes) LF` for every regular file of the
 * directory in name order (dotfiles excepted), manifest.json with its modelVersion value blanked.
 */
export function modelContentDigest(dir: string, modelVersion: string): string {
  const all = createHash('sha256');
  const names = readdirSync(dir)
    .filter((name) => !name.startsWith('.') && statSync(join(dir, name)).isFile())
    .sort();
  for (const name of names) {
    let bytes: Buffer = readFileSync(join(dir, name));
    if (name === 'manifest.json') {
      const stated = `"modelVersion": ${JSON.stringify(modelVersion)}`;
      bytes = Buffer.from(bytes.toString('utf8').replace(stated, '"modelVersion": ""'), 'utf8');
    }
    all.update(`${name}\u0000${createHash('sha256').update(bytes).digest('hex')}\n`);
  }
  return all.digest('hex');
}

/**
 * Refuses a directory whose files no longer hash to the version's suffix: a manifest, item table
 * or graph changed after export under the same version. Legacy versions (no `versionCovers`)
 * name the graph's hash only, and are checked against model.onnx.
 */
export function assertVersionCoversContents(model: ModelDirectory): void {
  const { modelVersion } = model.manifest;
  const suffix = /-([0-9a-f]{8})$/.exec(modelVersion)?.[1];
  if (suffix === undefined) return;
  if ((model.manifest as { versionCovers?: unknown }).versionCovers === CONTENT_VERSION_SCHEME) {
    const digest = modelContentDigest(model.dir, modelVersion);
    if (!digest.startsWith(suffix)) {
      throw new ModelError(
        `model directory ${model.dir} does not match its version ${modelVersion}: its files hash to ` +
          `${digest.slice(0, 8)}, so a file (manifest.json, item embeddings, a graph) changed after export. ` +
          'Re-export the model to give the changed contents their own version.',
        { modelVersion, digest },
      );
    }
    return;
  }
  const onnxSha256 = createHash('sha256').update(readFileSync(model.onnxPath)).digest('hex');
  if (!onnxSha256.startsWith(suffix)) {
    throw new ModelError(
      `manifest modelVersion ${modelVersion} names onnx hash ${suffix} but model.onnx hashes to ${onnxSha256.slice(0, 8)}`,
      { modelVersion, onnxSha256 },
    );
  }
}
