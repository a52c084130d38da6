/**
 * The models the benchmark runs: the demo model (models/demo, or a randomly initialised model of
 * the same size until it exists), the paper-size model (6 × 768, D 256, M 256, random weights),
 * their graph variants, and the one-MatMul GEMM graph. All generated files live in the work
 * folder (gitignored), never in the repository, and are reused when already built.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelDirectory, readModelDirectory } from '../src/inference/model-dir.ts';
import { progress } from './progress.ts';
import { runPythonJson } from './python.ts';

const SCRIPT = 'bench/python/make_models.py';

export interface ModelSize {
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly embedding: number;
  readonly itemVector: number;
  readonly maxLength: number;
}

/** The paper's shipped size (paper-notes: 6 layers × 768, D 256, M 256, PinSage vectors 256-d). */
export const PAPER_SIZE: ModelSize = {
  layers: 6,
  hidden: 768,
  heads: 8,
  embedding: 256,
  itemVector: 256,
  maxLength: 256,
};
/** The demo size (training/pinnerformer/config.py ModelConfig defaults). */
export const DEMO_SIZE: ModelSize = { layers: 2, hidden: 64, heads: 4, embedding: 64, itemVector: 32, maxLength: 256 };

export async function randomModelDir(dir: string, size: ModelSize): Promise<ModelDirectory> {
  progress(`model ${size.layers}x${size.hidden} (random weights) in ${dir}`);
  await runPythonJson(SCRIPT, [
    'random-dir',
    '--out',
    dir,
    '--layers',
    String(size.layers),
    '--hidden',
    String(size.hidden),
    '--heads',
    String(size.heads),
    '--embedding',
    String(size.embedding),
    '--item-vector',
    String(size.itemVector),
    '--max-length',
    String(size.maxLength),
  ]);
  return readModelDirectory(dir);
}

/** models/demo when it holds a model directory, else a random model of the demo size. */
export async function demoModel(
  workDir: string,
  modelDir = 'models/demo',
): Promise<{ model: ModelDirectory; trained: boolean }> {
  if (existsSync(join(modelDir, 'manifest.json')) && existsSync(join(modelDir, 'model.pt'))) {
    return { model: readModelDirectory(modelDir), trained: true };
  }
  progress(`${modelDir} is not there yet: using a randomly initialised model of the demo size`);
  return { model: await randomModelDir(join(workDir, 'demo-random'), DEMO_SIZE), trained: false };
}

interface VariantsFile {
  readonly [name: string]: { readonly path?: string; readonly error?: string; readonly ops?: Record<string, number> };
}

export interface Variants {
  /** name -> onnx path, for the variants that were built. */
  readonly paths: Readonly<Record<string, string>>;
  /** name -> operator counts or the error that stopped it. */
  readonly details: VariantsFile;
}

/** Graph variants of a model (bench/python/make_models.py variants), cached next to the model's hash. */
export async function modelVariants(model: ModelDirectory, outDir: string): Promise<Variants> {
  const marker = join(outDir, 'variants.json');
  const base = model.cpuOnnxPath ?? model.onnxPath; // what make_models.py derives the variants from
  const fresh =
    existsSync(marker) &&
    statSync(marker).mtimeMs > statSync(base).mtimeMs &&
    readFileSync(marker, 'utf8').includes(base) &&
    readFileSync(marker, 'utf8').includes('"int8-all"'); // built by this make_models.py (older sets differ)
  if (!fresh) {
    progress(`graph variants of ${model.manifest.modelVersion} (optimizer, fused attention, int8) -> ${outDir}`);
    await runPythonJson(SCRIPT, ['variants', '--model', model.dir, '--out', outDir]);
  }
  const details = JSON.parse(readFileSync(marker, 'utf8')) as VariantsFile;
  const paths: Record<string, string> = {};
  for (const [name, v] of Object.entries(details)) if (name !== 'base' && v.path) paths[name] = v.path;
  return { paths, details };
}

export async function gemmModel(
  workDir: string,
  k: number,
  n: number,
): Promise<{ path: string; k: number; n: number }> {
  const path = join(workDir, `gemm-${k}x${n}.onnx`);
  if (!existsSync(path)) await runPythonJson(SCRIPT, ['gemm', '--out', path, '--k', String(k), '--n', String(n)]);
  return { path, k, n };
}
