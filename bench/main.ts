/**
 * `npm run bench`: every benchmark figure in one run (the machine is noisy, so figures that are
 * compared are measured side by side), written to reports/bench.json, bench.md and bench.png.
 * Progress goes to stderr. Generated models and data live in the work folder (gitignored).
 *
 *   npm run bench -- [--full] [--quick] [--skip daily,paper-daily,lookup,cost,inference,paper,active-cost] [--work DIR] [--out DIR]
 *   npm run bench -- --daily-sizes 1000000 --skip lookup,cost,inference --out DIR   (the 1M day alone)
 */

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import ort from 'onnxruntime-node';
import { benchActiveCost } from './active-cost.ts';
import {
  type CostInput,
  type CostRow,
  CPU_THREADS_PER_LANE,
  type ItemCost,
  measureItemCost,
  PRICES,
  projectCost,
} from './cost.ts';
import { benchDailySize, bundleChild, type DailySizeResult, embeddedSequences } from './daily.ts';
import { flopsPerUser, modelShape } from './flops.ts';
import { type GpuResults, gpuEfficiency, readGpuResults } from './gpu-results.ts';
import {
  benchModel,
  benchPadding,
  type GemmPeak,
  type GemmProbe,
  gemmProbe,
  measureGemmPeak,
  type PaddingResult,
} from './inference.ts';
import { benchItemTable } from './inputs.ts';
import { benchLanes, type LanesResult } from './lanes.ts';
import { benchLookup, type LookupFigures } from './lookup.ts';
import { demoModel, gemmModel, modelVariants, PAPER_SIZE, randomModelDir } from './models.ts';
import { benchPipelining, cpuSecondsPerUser, type PipeliningResult } from './pipelining.ts';
import { elapsedSeconds, progress } from './progress.ts';
import { PYTHON, TorchServer } from './python.ts';
import { renderMarkdown } from './report.ts';
import { scaleSection } from './scale-sim.ts';
import { round } from './stats.ts';
import { evaluateTargets, runGemmPeak } from './targets.ts';
import type { BenchReport } from './types.ts';
import { benchWritePolicy, writeSkipShareOf } from './write-policy.ts';

interface Flags {
  readonly full: boolean;
  readonly quick: boolean;
  readonly skip: string;
  readonly work: string;
  readonly out: string;
  readonly model: string;
  readonly threads: string;
  readonly days: string;
  readonly dailySizes?: string;
  readonly render?: string;
  readonly gpu: string;
}

function cpuModel(): string {
  return cpus()[0]?.model.trim() ?? 'unknown';
}

function loadAverage(): number[] {
  try {
    return (spawnSync('cat', ['/proc/loadavg']).stdout.toString().split(' ').slice(0, 3) as string[]).map(Number);
  } catch {
    return [];
  }
}

/**
 * The paper-size efficiency for the cost projection: the best fp32-accurate onnxruntime graph over
 * the run's highest GEMM figure (runGemmPeak); 0.5 when the paper size did not run.
 */
function paperEfficiency(
  startEndPeak: number,
  demo: BenchReport['inference']['demo'],
  paper: BenchReport['inference']['paper'],
): number {
  const peak = runGemmPeak(startEndPeak, [demo, paper]);
  const best = (paper?.batches ?? [])
    .flatMap((b) =>
      b.contenders.filter((c) => c.name !== 'pytorch' && !c.name.includes('int8') && (c.cosineMin ?? 0) >= 0.999),
    )
    .reduce((a, c) => Math.max((c.usersPerSec * c.flopsPerUser) / 1e9 / peak, a), 0);
  return best > 0 ? Math.min(best, 1) : 0.5;
}

/** The projection's GPU assumption: measured on a GPU when gpu.sh's results are there, else this CPU's share. */
function gpuAssumption(gpu: GpuResults | undefined): Pick<CostInput, 'gpuEfficiency'> & { gpu: string } {
  if (!gpu) {
    return {
      gpu: 'g5 (1× A10G per container); throughput = A10G datasheet peak × the share of peak measured on this CPU',
    };
  }
  const measured = gpuEfficiency(gpu);
  return {
    gpuEfficiency: measured,
    gpu: `g5 (1× A10G per container); throughput = A10G datasheet peak × the share of its datasheet peak the model reached on ${measured.source}`,
  };
}

/**
 * The container's CPU side for the projection: CPU seconds per full-length user outside inference
 * (from the profiled daily run, bench/pipelining.ts) and the note that says how it was derived.
 */
function cpuSideAssumption(
  pipelining: PipeliningResult | undefined,
  padding: PaddingResult | undefined,
): { input: { cpuSecondsPerUser?: number }; notes: { cpuNote?: string } } {
  const perUser =
    pipelining && padding ? cpuSecondsPerUser(pipelining, padding.meanLength, PAPER_SIZE.maxLength) : undefined;
  if (perUser === undefined) return { input: {}, notes: {} };
  return {
    input: { cpuSecondsPerUser: round(perUser, 6) },
    notes: {
      cpuNote: `a container's CPU work outside inference (section 2, CPU by component, without the local table's server; per-event parts scaled from the measured mean length ${padding!.meanLength} to ${PAPER_SIZE.maxLength}) is ${round(perUser * 1000)} CPU-ms per user at this machine's per-core speed, on ${CPU_THREADS_PER_LANE} threads per lane (partition) of a container`,
    },
  };
}

/** Projected daily and monthly cost for 10M and 100M daily active users, fp32 and fp16. */
function projectionOf(input: CostInput): { rows: CostRow[] } {
  return {
    rows: [10_000_000, 100_000_000].flatMap((dau) => [
      projectCost(input, dau, 'fp32'),
      projectCost(input, dau, 'fp16'),
    ]),
  };
}

/** bench.json, bench.md and the chart (bench/python/chart.py) into `out`. */
function writeReports(report: BenchReport, out: string): void {
  writeFileSync(join(out, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, 'bench.md'), renderMarkdown(report));
  // the chart is optional: without its Python (or matplotlib) the markdown and JSON still stand
  const chart = spawnSync(PYTHON, ['bench/python/chart.py', join(out, 'bench.json'), join(out, 'bench.png')], {
    encoding: 'utf8',
  });
  if (chart.error) progress(`chart skipped: ${PYTHON} cannot run (${chart.error.message})`);
  else if (chart.status !== 0) progress(`chart failed: ${(chart.stderr ?? '').slice(-500)}`);
  progress(`wrote ${out}/bench.{json,md,png} in ${elapsedSeconds().toFixed(0)}s`);
}

/** `--daily-sizes 10000,1000000` -> [10000, 1000000]; refuses anything but positive integers. */
function dailySizesOf(list: string): number[] {
  const sizes = list.split(',').map((s) => Number(s.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`--daily-sizes expects comma-separated positive integers, got ${JSON.stringify(list)}`);
  }
  return sizes;
}

/** `--render`: bench.md/png (targets re-judged, projection re-derived) from an earlier bench.json. */
async function renderOnly(from: string, out: string, gpuDir: string, workDir: string): Promise<void> {
  mkdirSync(out, { recursive: true });
  const earlier = JSON.parse(readFileSync(from, 'utf8')) as BenchReport;
  // the projection follows the current efficiency rule too (its other inputs are stored)
  const efficiency = paperEfficiency(earlier.gemm.peakGflops, earlier.inference.demo, earlier.inference.paper);
  const gpu = readGpuResults(gpuDir);
  const { gpuEfficiency: _stale, ...stored } = (earlier.projection?.assumptions ?? {}) as Partial<CostInput>;
  const cpuSide = cpuSideAssumption(earlier.pipelining, earlier.inference.padding);
  const writeSkipShare = writeSkipShareOf(earlier.writePolicy);
  const assumptions = {
    ...stored,
    ...(writeSkipShare === undefined ? {} : { writeSkipShare }),
    efficiency,
    prices: PRICES,
    ...gpuAssumption(gpu),
    ...cpuSide.input,
    ...cpuSide.notes,
  };
  const projection = earlier.projection && {
    assumptions,
    ...projectionOf(assumptions as unknown as CostInput),
  };
  const { gpu: _earlierGpu, scale: _earlierScale, ...rest } = earlier;
  const withProjection = { ...rest, ...(projection ? { projection } : {}), ...(gpu ? { gpu } : {}) };
  // section 7 follows the stored figures: the scale plan's simulation is offline and quick
  const scale = await scaleSection(withProjection, {
    workDir: resolve(workDir),
    label: `${from} of ${earlier.createdAt}`,
    ...(earlier.scale ? { earlier: earlier.scale } : {}),
  });
  const updated = { ...withProjection, ...(scale ? { scale } : {}) };
  writeReports({ ...updated, targets: evaluateTargets(updated) }, out);
}

/** What the inference section measures: GEMM peaks at start and end, both models' contests, padding. */
interface InferenceFigures {
  gemmStart?: GemmPeak;
  gemmEnd?: GemmPeak;
  demoResult?: BenchReport['inference']['demo'];
  paperResult?: BenchReport['inference']['paper'];
  padding?: PaddingResult;
}

/** Section 1: inference throughput, side by side with PyTorch and the GEMM probe. */
async function inferenceSection(input: {
  readonly work: string;
  readonly threads: number;
  readonly quick: boolean;
  readonly withPaper: boolean;
  readonly settings: {
    readonly reps: number;
    readonly paperReps: number;
    readonly demoBatchSizes: number[];
    readonly paperBatchSizes: number[];
  };
  readonly demo: Awaited<ReturnType<typeof demoModel>>['model'];
  readonly trained: boolean;
  /** The padding contest's users (the smallest daily run's embedded sequences) and their cutoff. */
  readonly sequences: Parameters<typeof benchPadding>[0]['sequences'];
  readonly cutoffMs: number | undefined;
  readonly errors: string[];
}): Promise<InferenceFigures> {
  const { work, threads, quick, withPaper, settings, demo, trained, sequences, cutoffMs } = input;
  let gemmStart: GemmPeak | undefined;
  let gemmEnd: GemmPeak | undefined;
  let demoResult: BenchReport['inference']['demo'];
  let paperResult: BenchReport['inference']['paper'];
  let padding: PaddingResult | undefined;
  const torch = await TorchServer.start(threads);
  let probe: GemmProbe | undefined;
  try {
    const gemm = await gemmModel(work, 2048, 2048);
    probe = await gemmProbe(torch, gemm, threads);
    progress('GEMM peak (2048³ fp32, onnxruntime and torch.mm)');
    gemmStart = await measureGemmPeak(probe, settings.reps + 2);
    progress(`GEMM peak: onnxruntime ${gemmStart.onnxruntimeGflops} GFLOP/s, torch ${gemmStart.torchGflops} GFLOP/s`);
    const demoVariants = await modelVariants(demo, join(work, `variants-${demo.manifest.modelVersion}`));
    demoResult = {
      ...(await benchModel({
        label: 'demo',
        model: demo,
        items: benchItemTable(demo.manifest.dims.itemVector),
        torch,
        variants: demoVariants.paths,
        batchSizes: settings.demoBatchSizes,
        length: demo.manifest.dims.maxLength,
        reps: settings.reps,
        threads,
        probe,
        workDir: work,
      })),
      trained,
      variants: demoVariants.details,
    };
    if (sequences.length > 0 && cutoffMs !== undefined) {
      padding = await benchPadding({
        model: demo,
        items: benchItemTable(demo.manifest.dims.itemVector),
        sequences,
        cutoffMs,
        threads,
        reps: quick ? 1 : 2,
      });
      progress(`padding: ${padding.plans.map((x) => `${x.name} ${x.usersPerSec} users/s`).join(', ')}`);
    }
    if (withPaper) {
      const paper = await randomModelDir(join(work, 'paper-6x768'), PAPER_SIZE);
      const paperVariants = await modelVariants(paper, join(work, `variants-${paper.manifest.modelVersion}`));
      paperResult = {
        ...(await benchModel({
          label: 'paper',
          model: paper,
          items: benchItemTable(paper.manifest.dims.itemVector),
          torch,
          variants: paperVariants.paths,
          batchSizes: settings.paperBatchSizes,
          length: paper.manifest.dims.maxLength,
          reps: settings.paperReps,
          threads,
          probe,
          workDir: work,
        })),
        variants: paperVariants.details,
      };
    }
    gemmEnd = await measureGemmPeak(probe, settings.reps);
    progress(`GEMM peak at the end: onnxruntime ${gemmEnd.onnxruntimeGflops}, torch ${gemmEnd.torchGflops} GFLOP/s`);
  } catch (error) {
    input.errors.push(`inference: ${(error as Error).stack ?? error}`);
    progress(`inference FAILED: ${(error as Error).stack}`);
  } finally {
    await probe?.release();
    await torch.close();
  }
  return { gemmStart, gemmEnd, demoResult, paperResult, padding };
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command()
    .name('bench')
    .option('--full', 'also run the 1M-user day (slow)', false)
    .option('--quick', 'tiny sizes and single reps: checks the benchmark itself, figures mean little', false)
    .option(
      '--skip <sections>',
      'comma-separated: daily, paper-daily, pipelining, lanes, lookup, cost, inference, paper, write-policy, scale, active-cost',
      '',
    )
    .option('--work <dir>', 'work folder for generated models and data (gitignored)', '.pinnerformer/bench')
    .option('--out <dir>', 'where bench.json/md/png go', 'reports')
    .option('--model <dir>', 'the demo model directory', 'models/demo')
    .option('--threads <n>', 'threads for onnxruntime and PyTorch', '2')
    .option('--days <n>', 'days of synthetic history per daily-run size', '7')
    .option('--daily-sizes <users>', 'comma-separated user counts of the daily runs (overrides --full / --quick)')
    .option('--render <json>', 'only re-render bench.md/png (targets re-judged) from an earlier bench.json')
    .option(
      '--gpu <dir>',
      "folder holding bench/gpu.sh's results (bench-gpu*.json), folded into the report",
      'reports',
    );
  program.parse([...argv]);
  const flags = program.opts<Flags>();
  if (flags.render) {
    await renderOnly(flags.render, flags.out, flags.gpu, flags.work);
    return;
  }
  const skip = new Set(flags.skip.split(',').filter(Boolean));
  const threads = Number(flags.threads);
  const quick = flags.quick;
  const work = resolve(flags.work);
  mkdirSync(work, { recursive: true });
  mkdirSync(flags.out, { recursive: true });
  const errors: string[] = [];
  const settings = {
    quick,
    full: flags.full,
    threads,
    days: Number(flags.days),
    dailySizes: flags.dailySizes
      ? dailySizesOf(flags.dailySizes)
      : quick
        ? [2000]
        : flags.full
          ? [10_000, 100_000, 1_000_000]
          : [10_000, 100_000],
    demoBatchSizes: quick ? [8] : [8, 32, 128],
    paperBatchSizes: quick ? [1] : [1, 4, 8],
    // rounds of each inference contest; comparisons use the median of them (best-of-3 had moved
    // the demo model's ratios by ±30% between runs on this shared machine)
    reps: quick ? 1 : 9,
    paperReps: quick ? 1 : 7,
    paperDailyUsers: quick ? 500 : 2000,
    paddingUsers: quick ? 256 : 1024,
    lookupSeconds: quick ? 2 : 10,
    lookupConnections: 8,
  };
  const loadStart = loadAverage();
  progress(`benchmark: ${JSON.stringify(settings)}; load average ${loadStart.join(' ')}`);

  const { model: demo, trained } = await demoModel(work, flags.model);
  const demoShape = modelShape(demo.manifest);
  /** One measurement: its result, or undefined with the failure recorded (the rest still runs). */
  const measure = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (error) {
      errors.push(`${name}: ${(error as Error).message}`);
      progress(`${name} FAILED: ${(error as Error).message}`);
      return undefined;
    }
  };

  // ---- 2. the daily run (first: it produces the data the padding and lookup figures use)
  const daily: DailySizeResult[] = [];
  // the measured runs start bundled, as the demo and the Batch container do (bench/daily.ts)
  await measure('bundling bench/daily-child.ts', bundleChild);
  if (!skip.has('daily')) {
    for (const users of settings.dailySizes) {
      const result = await measure(`daily ${users}`, () =>
        benchDailySize({ workDir: work, modelDir: demo.dir, users, days: settings.days, seed: 7 }),
      );
      if (result) daily.push(result);
    }
  }
  // ---- 2c. pipelining side by side, and the embed stage's CPU by component (100k users, or the largest below)
  const compared = [...daily].filter((d) => d.users <= 100_000).pop();
  const comparedDay = compared?.runs.find((r) => r.role === 'steady');
  // the steady day both reruns use, already run by section 2
  const rerun =
    compared && comparedDay
      ? {
          dataDir: join(work, `daily-${compared.users}`),
          users: compared.users,
          date: comparedDay.date,
          rounds: quick ? 1 : 2,
        }
      : undefined;
  const pipelining: PipeliningResult | undefined =
    !skip.has('pipelining') && rerun
      ? await measure('pipelining', () => benchPipelining({ ...rerun, modelDir: demo.dir }))
      : undefined;
  // ---- 2d. a Batch child's lanes, on the same steady day
  const lanes: LanesResult | undefined =
    !skip.has('lanes') && rerun
      ? await measure('lanes', () =>
          benchLanes({ ...rerun, modelVersion: demo.manifest.modelVersion, cores: availableParallelism() }),
        )
      : undefined;

  const smallest = daily[0];
  const steady = smallest?.runs.find((r) => r.role === 'steady');
  const embedded =
    smallest && steady
      ? await embeddedSequences(work, smallest.users, demo.manifest.modelVersion, steady.date, settings.paddingUsers)
      : [];

  // ---- 4. lookup against the smallest run's table
  const lookup: LookupFigures[] = [];
  if (!skip.has('lookup') && smallest && embedded.length > 0) {
    const figures = await measure('lookup', () =>
      benchLookup({
        dataDir: join(work, `daily-${smallest.users}`),
        userIds: embedded.map((u) => u.userId),
        connections: settings.lookupConnections,
        seconds: settings.lookupSeconds,
      }),
    );
    lookup.push(...(figures ?? []));
  }

  // ---- 2b. a small day with a paper-size model: the embed stage's split at the production model size
  if (!skip.has('daily') && !skip.has('paper-daily')) {
    const result = await measure('daily paper size', async () => {
      // the paper's trunk (6 × 768, D 256) over the synthetic data's item vectors
      const size = { ...PAPER_SIZE, itemVector: demo.manifest.dims.itemVector };
      const paperModel = await randomModelDir(join(work, `paper-6x768-ev${size.itemVector}`), size);
      return benchDailySize({
        workDir: work,
        modelDir: paperModel.dir,
        modelLabel: 'paper size 6×768 (random weights)',
        users: settings.paperDailyUsers,
        days: settings.days,
        seed: 7,
      });
    });
    if (result) daily.push(result);
  }

  // ---- 3a. bytes and write units per item, through the real store
  const items: ItemCost[] = [];
  if (!skip.has('cost')) {
    progress('write cost: 1000 items per (dims, dtype) through DynamoEmbeddingStore on dynalite');
    items.push(
      ...(await measureItemCost(
        [
          { dims: demo.manifest.dims.embedding, dtype: 'float16' },
          { dims: demo.manifest.dims.embedding, dtype: 'float32' },
          { dims: PAPER_SIZE.embedding, dtype: 'float16' },
          { dims: PAPER_SIZE.embedding, dtype: 'float32' },
        ],
        quick ? 100 : 1000,
      )),
    );
  }

  // ---- 6. write only what changed: the quality replay (PyTorch) and the daily run with the policy
  const writePolicy = skip.has('write-policy')
    ? undefined
    : await benchWritePolicy({
        workDir: work,
        modelDir: demo.dir,
        users: quick ? 2000 : 20_000,
        days: quick ? 3 : 6,
        steps: quick ? 20 : 200,
        onError: (what, error) => {
          errors.push(`${what}: ${(error as Error).message}`);
          progress(`${what} FAILED: ${(error as Error).message}`);
        },
      });

  // ---- 8. cost that follows active users: a full snapshot daily against deltas, side by side
  const activeCost = skip.has('active-cost')
    ? undefined
    : await measure('active-cost', () =>
        benchActiveCost({ workDir: work, modelDir: demo.dir, users: quick ? 2000 : 20_000 }),
      );

  // ---- 1. inference
  const { gemmStart, gemmEnd, demoResult, paperResult, padding }: InferenceFigures = skip.has('inference')
    ? {}
    : await inferenceSection({
        work,
        threads,
        quick,
        withPaper: !skip.has('paper'),
        settings,
        demo,
        trained,
        sequences: embedded.map((u) => u.events),
        cutoffMs: steady ? Date.parse(`${steady.date}T00:00:00Z`) + 86_400_000 : undefined,
        errors,
      });
  const peakGflops = Math.max(gemmStart?.peakGflops ?? 0, gemmEnd?.peakGflops ?? 0);

  // ---- 3b. projected AWS cost (paper-size model, full-length sequences)
  const fromDailyRuns = daily.flatMap((d) =>
    d.runs.map((r) => ({
      users: d.users,
      embeddedUsers: r.embeddedUsers,
      requestsPer1kUsers: round((1000 * r.writeStats.requests) / Math.max(1, r.writeStats.items)),
      retries: r.writeStats.retries,
      throttles: r.writeStats.throttles,
    })),
  );
  const gpuResults = readGpuResults(flags.gpu);
  let projection: BenchReport['projection'];
  const paperItem = items.find((i) => i.dims === PAPER_SIZE.embedding && i.dtype === 'float16');
  if (paperItem && steady && smallest) {
    const paperShapeFlops = flopsPerUser(
      {
        ...demoShape,
        ...PAPER_SIZE,
        inputWidth: PAPER_SIZE.itemVector + (demoShape.inputWidth - demo.manifest.dims.itemVector),
      },
      PAPER_SIZE.maxLength,
      { lastBlockAtLastPosition: true },
    );
    const snapshotUsers = smallest.users; // every user with history is in the day's snapshots
    const seqBytesPerEvent =
      padding && padding.realTokens > 0 ? steady.snapshotBytes.sequences / (snapshotUsers * padding.meanLength) : 20;
    const snapshotBytesPerUser =
      steady.snapshotBytes.embeddings / snapshotUsers +
      (PAPER_SIZE.embedding - demo.manifest.dims.embedding) * 4 +
      seqBytesPerEvent * PAPER_SIZE.maxLength;
    const efficiency = paperEfficiency(peakGflops, demoResult, paperResult);
    const { gpu: gpuNote, ...measuredOnGpu } = gpuAssumption(gpuResults);
    const cpuSide = cpuSideAssumption(pipelining, padding);
    const input = {
      flopsPerUser: paperShapeFlops,
      efficiency,
      ...measuredOnGpu,
      ...cpuSide.input,
      writeUnitsPerUser: paperItem.writeUnitsPerItem,
      bytesPerItem: paperItem.bytesPerItem,
      snapshotBytesPerUser,
      snapshotRetentionDays: 7,
      tableRetentionDays: 30,
      activeShare: 0.3,
      ...(writeSkipShareOf(writePolicy) === undefined ? {} : { writeSkipShare: writeSkipShareOf(writePolicy)! }),
    };
    projection = {
      assumptions: {
        ...input,
        model: 'paper size 6×768, D 256, every embedded user at full length M=256 (a year of history)',
        gpu: gpuNote,
        prices: PRICES,
        note: 'S3: embedding + sequence snapshots of all users (DAU / 0.3) kept 7 days; DynamoDB: one item per embedded user per day, kept 30 days (TTL)',
        ...cpuSide.notes,
      },
      ...projectionOf(input),
    };
  }

  const report: BenchReport = {
    createdAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    wallSeconds: round(elapsedSeconds()),
    machine: {
      cpu: cpuModel(),
      cores: availableParallelism(),
      memoryGiB: round(totalmem() / 2 ** 30),
      node: process.version,
      onnxruntimeNode: (ort.env as { versions?: { common?: string } }).versions?.common ?? 'unknown',
      threads,
      loadAverageStart: loadStart,
      loadAverageEnd: loadAverage(),
    },
    settings,
    gemm: { ...(gemmStart ? { start: gemmStart } : {}), ...(gemmEnd ? { end: gemmEnd } : {}), peakGflops },
    inference: {
      ...(demoResult ? { demo: demoResult } : {}),
      ...(paperResult ? { paper: paperResult } : {}),
      ...(padding ? { padding } : {}),
    },
    daily,
    ...(pipelining ? { pipelining } : {}),
    ...(lanes ? { lanes } : {}),
    writeCost: { items, fromDailyRuns },
    ...(projection ? { projection } : {}),
    lookup,
    ...(gpuResults ? { gpu: gpuResults } : {}),
    ...(writePolicy ? { writePolicy } : {}),
    ...(activeCost ? { activeCost } : {}),
    targets: [],
    errors,
  };
  // ---- 7. the scale plan, from this run's figures (or reports/bench.json's where sections were skipped)
  const scale = skip.has('scale') ? undefined : await measure('scale', () => scaleSection(report, { workDir: work }));
  const withScale: BenchReport = { ...report, ...(scale ? { scale } : {}) };
  const withTargets: BenchReport = { ...withScale, targets: evaluateTargets(withScale) };
  writeReports(withTargets, flags.out);
  for (const t of withTargets.targets) progress(`target ${t.verdict} ${t.name}: ${t.measured}`);
}
