/**
 * `model deploy` refuses a model directory whose manifest does not match its graph or whose
 * contents changed under the same version (issue 16, "Clear errors"). The demo model is copied
 * and edited the way a person would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelManifest } from '../src/inference/manifest.ts';
import { assertVersionCoversContents, modelContentDigest } from '../src/inference/model-dir.ts';
import { deployModel } from '../src/pipeline/model.ts';
import type { PipelineEnv } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { ConflictError, ModelError } from '../src/util/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'pf-deploy-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function demoCopy(name: string, edit?: (manifest: Record<string, unknown>) => void): string {
  const copy = join(dir, name);
  cpSync('models/demo', copy, { recursive: true });
  if (edit) {
    const manifest = JSON.parse(readFileSync(join(copy, 'manifest.json'), 'utf8'));
    edit(manifest);
    writeFileSync(join(copy, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }
  return copy;
}

describe('model deploy', () => {
  it('refuses a manifest whose maxLength is longer than the graph was built for (CLI)', () => {
    // Prepare: the demo graph has 256 positions
    const model = demoCopy('long', (m) => {
      (m.dims as Record<string, number>).maxLength = 512;
    });
    // Act
    const r = spawnSync('node', ['bin/pinnerformer.js', 'model', 'deploy', model, '--data', join(dir, 'data')], {
      encoding: 'utf8',
    });
    // Assess
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error \[MODEL\]: model\.onnx fails on a sequence of the manifest's dims\.maxLength=512/);
    expect(r.stderr).toMatch(/the manifest does not match the graph/);
  }, 120_000);

  it('refuses a manifest whose embedding width differs from the graph output', async () => {
    const model = demoCopy('wide', (m) => {
      (m.dims as Record<string, number>).embedding = 128;
    });
    const env = { objects: new LocalObjectStore(join(dir, 'objects-wide')) } as unknown as PipelineEnv;
    await expect(deployModel(env, model)).rejects.toThrow(/returns 64 values per user; manifest dims.embedding is 128/);
  }, 60_000);

  it('refuses changed item embeddings under an already deployed version, naming the file', async () => {
    // Prepare
    const model = demoCopy('same');
    const env = { objects: new LocalObjectStore(join(dir, 'objects-same')) } as unknown as PipelineEnv;
    await deployModel(env, model);
    appendFileSync(join(model, 'item_embeddings.parquet'), Buffer.from([0]));
    // Act
    const again = deployModel(env, model);
    // Assess
    await expect(again).rejects.toThrow(ConflictError);
    await expect(deployModel(env, model)).rejects.toThrow(
      /already deployed with different contents \(item_embeddings\.parquet\): a changed model needs a new modelVersion/,
    );
  }, 60_000);
});

describe('a version that covers the directory contents', () => {
  it('hashes the same in TypeScript as export.py, and refuses a changed manifest', () => {
    // Prepare: a directory as export.py seals it
    const sealed = join(dir, 'sealed');
    cpSync('models/demo', sealed, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(sealed, 'manifest.json'), 'utf8'));
    manifest.modelVersion = 'pf-2x64-00000000';
    manifest.versionCovers = 'contents';
    writeFileSync(join(sealed, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const python = execFileSync(
      join('training', '.venv', 'bin', 'python'),
      [
        '-c',
        'import sys; from pathlib import Path; from pinnerformer.export import content_digest; print(content_digest(Path(sys.argv[1]), sys.argv[2]))',
        sealed,
        manifest.modelVersion,
      ],
      { cwd: process.cwd(), env: { ...process.env, PYTHONPATH: 'training' }, encoding: 'utf8' },
    ).trim();
    const digest = modelContentDigest(sealed, manifest.modelVersion);
    const version = `pf-2x64-${digest.slice(0, 8)}`;
    writeFileSync(
      join(sealed, 'manifest.json'),
      readFileSync(join(sealed, 'manifest.json'), 'utf8').replace(manifest.modelVersion, version),
    );
    const directory = (m: ModelManifest) => ({
      dir: sealed,
      manifest: m,
      onnxPath: join(sealed, 'model.onnx'),
      cpuOnnxPath: null,
      itemIds: null,
    });
    // Act / Assess
    expect(digest).toBe(python);
    expect(() => assertVersionCoversContents(directory({ ...manifest, modelVersion: version }))).not.toThrow();
    writeFileSync(
      join(sealed, 'manifest.json'),
      readFileSync(join(sealed, 'manifest.json'), 'utf8').replace('"maxLength": 256', '"maxLength": 128'),
    );
    expect(() => assertVersionCoversContents(directory({ ...manifest, modelVersion: version }))).toThrow(ModelError);
    expect(() => assertVersionCoversContents(directory({ ...manifest, modelVersion: version }))).toThrow(
      /does not match its version pf-2x64-[0-9a-f]{8}: its files hash to [0-9a-f]{8}, so a file .* changed after export/,
    );
  });
});
