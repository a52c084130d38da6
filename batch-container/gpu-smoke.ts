/**
 * GPU smoke check, run by a person on a GPU host before the first deploy (docs/deploy.md, "Image"):
 * prepares a tiny partitioned run (synthetic events, the demo model, a local table), starts the
 * Batch worker on it in GPU mode exactly as Batch would (the image with `docker run --gpus all`, or
 * the bundle with --bundle), and passes only when the worker proved the CUDA provider runs the
 * model and embedded every partition.
 *   npx tsx batch-container/gpu-smoke.ts [--image pinnerformer-embed | --bundle dist] [--partitions 2]
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { deployModel, partitionSlice, plan } from '../src/pipeline/index.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { ValidationError } from '../src/util/errors.ts';

export const GPU_CHECK_LINE = 'GPU check passed: the CUDA execution provider runs the model';

export interface SmokeOptions {
  /** Image to run (docker run --gpus all); absent when `bundle` is given. */
  readonly image?: string;
  /** Folder holding dist/batch-worker.mjs, run with this host's node instead of an image. */
  readonly bundle?: string;
  readonly provider: 'cuda' | 'cpu';
  readonly partitions: number;
  readonly partitionsPerJob: number;
  readonly users: number;
  readonly model: string;
  readonly keep: boolean;
}

const USAGE =
  'usage: gpu-smoke.ts [--image IMAGE | --bundle DIR] [--partitions N] [--partitions-per-job K] [--users N] [--model DIR] [--provider cuda|cpu] [--keep]';

/** Parses the flags; defaults: the image `pinnerformer-embed`, 2 partitions on 2 lanes, 300 users, CUDA. */
export function parseSmokeArgs(argv: readonly string[]): SmokeOptions {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--keep') flags.add(arg);
    else if (/^--(image|bundle|partitions|partitions-per-job|users|model|provider)$/.test(arg)) {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new ValidationError(`${arg} needs a value. ${USAGE}`);
      values.set(arg, value);
    } else throw new ValidationError(`unknown argument "${arg}". ${USAGE}`);
  }
  if (values.has('--image') && values.has('--bundle'))
    throw new ValidationError(`give --image or --bundle, not both. ${USAGE}`);
  const int = (flag: string, fallback: number, min: number, max: number) => {
    const raw = values.get(flag);
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new ValidationError(`${flag} must be a whole number from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  const provider = values.get('--provider') ?? 'cuda';
  if (provider !== 'cuda' && provider !== 'cpu')
    throw new ValidationError(`--provider must be cuda or cpu, got "${provider}"`);
  const partitions = int('--partitions', 2, 2, 16);
  const bundle = values.get('--bundle');
  return {
    ...(bundle === undefined ? { image: values.get('--image') ?? 'pinnerformer-embed' } : { bundle: resolve(bundle) }),
    provider,
    partitions,
    partitionsPerJob: int('--partitions-per-job', 2, 1, partitions),
    users: int('--users', 300, 50, 100_000),
    model: resolve(values.get('--model') ?? 'models/demo'),
    keep: flags.has('--keep'),
  };
}

interface ChildRun {
  readonly code: number | null;
  readonly output: string;
}

function run(command: string, args: readonly string[], env: Record<string, string>): Promise<ChildRun> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
  });
}

/** The worker's environment for array child `index`: the run, the local table and folder, the provider. */
function workerEnvOf(
  options: SmokeOptions,
  day: { readonly date: string; readonly modelVersion: string; readonly objectsDir: string },
  table: { readonly tableName: string; readonly endpoint: string },
  index: number,
): Record<string, string> {
  const { date, modelVersion, objectsDir } = day;
  return {
    RUN_DATE: date,
    MODEL_VERSION: modelVersion,
    PARTITIONS: String(options.partitions),
    PARTITIONS_PER_JOB: String(options.partitionsPerJob),
    AWS_BATCH_JOB_ARRAY_INDEX: String(index),
    OBJECT_STORE_URI: objectsDir,
    TABLE_NAME: table.tableName,
    DYNAMODB_ENDPOINT: table.endpoint,
    EXECUTION_PROVIDER: options.provider,
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_METRICS_DISABLED: 'true',
    NODE_OPTIONS: '',
  };
}

/** Runs one array child: the bundled worker, or the image under docker with the GPUs. */
function runChild(options: SmokeOptions, dir: string, workerEnv: Record<string, string>) {
  return options.bundle
    ? run(process.execPath, [join(options.bundle, 'batch-worker.mjs')], workerEnv)
    : run(
        'docker',
        [
          'run',
          '--rm',
          '--gpus',
          'all',
          '--network',
          'host',
          '-v',
          `${dir}:${dir}`,
          ...Object.keys(workerEnv).flatMap((name) => ['-e', name]),
          options.image!,
        ],
        workerEnv,
      );
}

/** Runs the check; answers the lines to print and whether it passed. */
export async function smoke(options: SmokeOptions, say: (line: string) => void): Promise<boolean> {
  if (options.provider === 'cuda' && !existsSync('/dev/nvidiactl') && !existsSync('/dev/nvidia0')) {
    say('FAIL: no NVIDIA GPU is visible on this host (/dev/nvidia*): run this on the GPU host (a g5/g6 instance)');
    return false;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pf-gpu-smoke-'));
  const objectsDir = join(dir, 'objects');
  const date = '2026-01-03';
  const table = await openLocalEmbeddings({ store: { wallClockExpiry: false } });
  try {
    await generateDataset({ users: options.users, days: 3, seed: 11, start: '2026-01-01', out: objectsDir });
    const env = { objects: new LocalObjectStore(objectsDir), embeddings: table.store };
    const { modelVersion } = await deployModel(env, options.model);
    const manifest = await plan(env, { date, modelVersion, partitions: options.partitions, backfill: true });
    for (const slice of manifest.slices) await partitionSlice(env, { date, modelVersion, slice: slice.index });
    // The image runs as uid 10001: it must be able to write the snapshots into the mounted folder.
    chmodSync(dir, 0o777);
    await run('chmod', ['-R', 'a+rwX', dir], {});
    say(
      `prepared ${options.users} users, ${options.partitions} partitions of ${date} (model ${modelVersion}) in ${dir}`,
    );

    const children = Math.ceil(options.partitions / options.partitionsPerJob);
    const logs: string[] = [];
    let failed = false;
    for (let index = 0; index < children; index++) {
      const workerEnv = workerEnvOf(options, { date, modelVersion, objectsDir }, table, index);
      const started = Date.now();
      const child = await runChild(options, dir, workerEnv);
      logs.push(child.output);
      say(`child ${index}: exit ${child.code} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (child.code !== 0) {
        failed = true;
        const reason = child.output
          .split('\n')
          .filter((line) => /error|Error|failed/.test(line))
          .slice(-3);
        for (const line of reason) say(`  ${line.slice(0, 400)}`);
      }
    }
    const all = logs.join('\n');
    const embedded = (all.match(/"message":"partition embedded"/g) ?? []).length;
    const gpuChecked = all.includes(GPU_CHECK_LINE);
    say(`partitions embedded: ${embedded}/${options.partitions}`);
    if (options.provider === 'cuda')
      say(gpuChecked ? `CUDA provider: loaded (${GPU_CHECK_LINE})` : 'CUDA provider: NOT loaded');
    const passed = !failed && embedded === options.partitions && (options.provider === 'cpu' || gpuChecked);
    say(passed ? 'PASS' : 'FAIL (the worker output is above; docs/deploy.md, "Image", lists the usual causes)');
    return passed;
  } finally {
    await table.close();
    if (options.keep) say(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const say = (line: string) => process.stdout.write(`[gpu-smoke] ${line}\n`);
  try {
    process.exitCode = (await smoke(parseSmokeArgs(process.argv.slice(2)), say)) ? 0 : 1;
  } catch (error) {
    say(`FAIL: ${(error as Error).message}`);
    process.exitCode = error instanceof ValidationError ? 2 : 1;
  }
}
