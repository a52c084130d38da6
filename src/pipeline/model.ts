import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ItemTable } from '../features/item-table.ts';
import { OnnxEmbedder } from '../inference/embedder.ts';
import { type ModelManifest, parseModelManifest } from '../inference/manifest.ts';
import { assertVersionCoversContents, type ModelDirectory, readModelDirectory } from '../inference/model-dir.ts';
import { ConflictError, ModelError, NotFoundError } from '../util/errors.ts';
import { layout } from './layout.ts';
import type { ObjectsEnv } from './types.ts';

/** models/<mv>/deployed.json: what deployModel uploaded. */
export interface DeployedModel {
  readonly modelVersion: string;
  readonly onnxSha256: string;
  readonly files: readonly string[];
  /** SHA-256 of every file (records written before this field lack it). */
  readonly fileSha256?: Readonly<Record<string, string>>;
  readonly deployedAt: string;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Validates a local model directory (files, manifest, graph shapes, a probe batch: no NaN, no
 * collapse), then uploads its files to models/<mv>/ and records models/<mv>/deployed.json.
 * Nothing is written when any check fails. Redeploying identical files is a no-op; any file that
 * differs (manifest, item embeddings, graph) under an existing model version is a ConflictError
 * naming the changed files.
 */
export async function deployModel(env: ObjectsEnv, localModelDir: string): Promise<{ modelVersion: string }> {
  const model = readModelDirectory(localModelDir);
  const { modelVersion } = model.manifest;
  const onnx = readFileSync(model.onnxPath);
  const onnxSha256 = sha256(onnx);
  assertVersionCoversContents(model);
  const embedder = await OnnxEmbedder.open(model, ItemTable.empty(model.manifest.dims.itemVector, model.itemIds), {
    threads: 1,
  });
  await embedder.release();

  const files = readdirSync(localModelDir)
    .filter((name) => statSync(join(localModelDir, name)).isFile())
    .sort();
  const fileSha256 = Object.fromEntries(files.map((name) => [name, sha256(readFileSync(join(localModelDir, name)))]));
  const existing = await env.objects.getIfExists(layout.modelRegistry(modelVersion));
  if (existing) {
    const record = JSON.parse(Buffer.from(existing).toString('utf8')) as DeployedModel;
    const changed = changedFiles(record, onnxSha256, fileSha256);
    if (changed.length > 0) {
      throw new ConflictError(
        `model ${modelVersion} is already deployed with different contents (${changed.join(', ')}): ` +
          'a changed model needs a new modelVersion (re-export it)',
        { modelVersion, changed },
      );
    }
    env.log?.(`model ${modelVersion} already deployed`);
    return { modelVersion };
  }
  for (const name of files) {
    await env.objects.put(`${layout.modelPrefix(modelVersion)}${name}`, readFileSync(join(localModelDir, name)));
  }
  const record: DeployedModel = {
    modelVersion,
    onnxSha256,
    files,
    fileSha256,
    deployedAt: new Date().toISOString(),
  };
  await env.objects.put(layout.modelRegistry(modelVersion), `${JSON.stringify(record, null, 2)}\n`);
  env.log?.(`deployed model ${modelVersion} (${files.length} files)`);
  return { modelVersion };
}

/** Files whose bytes differ from the deployed record's (or that one side lacks). */
function changedFiles(record: DeployedModel, onnxSha256: string, fileSha256: Record<string, string>): string[] {
  if (!record.fileSha256) return record.onnxSha256 === onnxSha256 ? [] : ['model.onnx'];
  const names = [...new Set([...Object.keys(record.fileSha256), ...Object.keys(fileSha256)])].sort();
  return names.filter((name) => record.fileSha256![name] !== fileSha256[name]);
}

async function readDeployed(env: ObjectsEnv, modelVersion: string): Promise<DeployedModel> {
  const bytes = await env.objects.getIfExists(layout.modelRegistry(modelVersion));
  if (!bytes) {
    throw new NotFoundError(`model ${modelVersion} is not deployed (no ${layout.modelRegistry(modelVersion)})`, {
      modelVersion,
    });
  }
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as DeployedModel;
}

/** The manifest of a deployed model (NotFoundError when not deployed). */
export async function loadDeployedManifest(env: ObjectsEnv, modelVersion: string): Promise<ModelManifest> {
  await readDeployed(env, modelVersion);
  const bytes = await env.objects.get(`${layout.modelPrefix(modelVersion)}manifest.json`);
  return parseModelManifest(Buffer.from(bytes).toString('utf8'), `models/${modelVersion}/manifest.json`);
}

/**
 * A local directory holding the deployed model's files, for onnxruntime: the store's own folder
 * when it is a local directory, else a verified copy in the temp dir (downloaded once per process).
 */
export async function localModelDirectory(env: ObjectsEnv, modelVersion: string): Promise<ModelDirectory> {
  const deployed = await readDeployed(env, modelVersion);
  const direct = join(env.objects.root, layout.modelPrefix(modelVersion));
  if (!env.objects.root.includes('://') && existsSync(join(direct, 'model.onnx'))) return readModelDirectory(direct);
  const cache = join(tmpdir(), 'pinnerformer-models', `${modelVersion}-${deployed.onnxSha256.slice(0, 16)}`);
  if (!existsSync(join(cache, '.complete'))) {
    const staging = `${cache}.${process.pid}.${Date.now()}`;
    mkdirSync(staging, { recursive: true });
    for (const name of deployed.files) {
      writeFileSync(join(staging, name), await env.objects.get(`${layout.modelPrefix(modelVersion)}${name}`));
    }
    if (sha256(readFileSync(join(staging, 'model.onnx'))) !== deployed.onnxSha256) {
      throw new ModelError(`models/${modelVersion}/model.onnx does not match its deployed hash`, { modelVersion });
    }
    writeFileSync(join(staging, '.complete'), '');
    try {
      renameSync(staging, cache);
    } catch {
      // Another worker finished the same copy first; use it.
    }
  }
  return readModelDirectory(cache);
}
