/**
 * One measured step of the daily-run benchmark, in its own process so that its peak memory
 * (maxRSS, worker threads included) is its own. Prints one JSON object on stdout.
 *   generate <out> <users> <days> <seed>
 *   daily <dataDir> <date> <modelDir> [workers] [threads]
 * PINNERFORMER_PIPELINED=0|1 sets the runner's pipelining (default: its own choice). stageEndMicros
 * holds when each stage ended on process.hrtime's clock (µs), the clock of --cpu-prof's samples.
 */
import { runDaily } from '../src/pipeline/local-runner.ts';
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
    log: (message) => process.stderr.write(`${message}\n`),
    onStage: (stage) => {
      stageEndMicros[stage] = Number(process.hrtime.bigint() / 1000n);
    },
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}
process.stdout.write(
  `${JSON.stringify({
    result,
    stageEndMicros,
    seconds: (performance.now() - started) / 1000,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuSeconds: (process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1e6,
  })}\n`,
);
