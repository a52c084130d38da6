/**
 * One measured step of the daily-run benchmark, in its own process so that its peak memory
 * (maxRSS, worker threads included) is its own. Prints one JSON object on stdout.
 *   generate <out> <users> <days> <seed>
 *   daily <dataDir> <date> <modelDir> [workers] [threads]
 *   batch-child <dataDir> <date> <modelVersion> <partitions, comma-separated> <serial|lanes>
 *     the Batch container's runWorker (CPU provider) on a day the daily run already planned and
 *     partitioned, into a fresh in-memory table: serial = one child per partition, one after
 *     another; lanes = one child embedding them all at once.
 * PINNERFORMER_PIPELINED=0|1 sets the runner's pipelining (default: its own choice). The daily run
 * gets the bench's inference profiler (bench/thread-cpu.mjs: each session.run's CPU time, in the
 * summary's inference.cpuSeconds); the product measures none itself. stageEndMicros
 * holds when each stage ended on process.hrtime's clock (µs), the clock of --cpu-prof's samples.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { runWorker, type WorkerSettings } from '../batch-container/worker.ts';
import { openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { runDaily } from '../src/pipeline/local-runner.ts';
import type { PartitionResult } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { generateDataset } from '../src/synth/generate.ts';

const [mode, ...args] = process.argv.slice(2);
const started = performance.now();
let result: unknown;
const stageEndMicros: Record<string, number> = {};
if (mode === 'generate') {
  const [out, users, days, seed] = args;
  result = await generateDataset({
    out: out!,
    users: Number(users),
    days: Number(days),
    seed: Number(seed),
    start: '2026-01-01',
    onProgress: (message) => process.stderr.write(`${message}\n`),
  });
} else if (mode === 'daily') {
  const [dataDir, date, modelDir, workers, threads] = args;
  result = await runDaily({
    dataDir: dataDir!,
    date: date!,
    modelDir: modelDir!,
    ...(workers ? { workers: Number(workers) } : {}),
    ...(threads ? { threads: Number(threads) } : {}),
    ...(process.env.PINNERFORMER_PIPELINED ? { pipelined: process.env.PINNERFORMER_PIPELINED === '1' } : {}),
    // from the repository root (the bench's working directory): the bundled child has no sources beside it
    profiler: pathToFileURL(resolve('bench/thread-cpu.mjs')).href,
    log: (message) => process.stderr.write(`${message}\n`),
    onStage: (stage) => {
      stageEndMicros[stage] = Number(process.hrtime.bigint() / 1000n);
    },
  });
} else if (mode === 'batch-child') {
  const [dataDir, date, modelVersion, partitionList, shape] = args;
  const partitions = partitionList!.split(',').map(Number);
  const table = await openLocalEmbeddings({ store: { wallClockExpiry: false } });
  try {
    const objectsDir = dataDir!;
    const env = {
      objects: new LocalObjectStore(objectsDir),
      embeddings: table.store,
      log: (message: string) => process.stderr.write(`${message}\n`),
    };
    const settings: WorkerSettings = {
      date: date!,
      modelVersion: modelVersion!,
      partitions,
      objectStoreUri: objectsDir,
      tableName: table.tableName,
      executionProvider: 'cpu',
      dtype: 'float16',
      retentionDays: 30,
    };
    const metrics = new Metrics({ namespace: 'PinnerFormerBench', serviceName: 'embed-worker' });
    const results: PartitionResult[] = [];
    if (shape === 'lanes') results.push(...(await runWorker(settings, env, metrics)));
    else for (const p of partitions) results.push(...(await runWorker({ ...settings, partitions: [p] }, env, metrics)));
    result = { shape, partitions, embeddedUsers: results.reduce((n, r) => n + r.embeddedUsers, 0) };
  } finally {
    await table.close();
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
process.stdout.write(
  `${JSON.stringify({
    result,
    stageEndMicros,
    seconds: (performance.now() - started) / 1000,
    /** From the process's start: its module loading included, as in cpuSeconds. */
    processSeconds: process.uptime(),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuSeconds: (process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1e6,
  })}\n`,
);
