/**
 * `npm run bench`: every benchmark figure in one run (the machine is noisy, so figures that are
 * compared are measured side by side), written to reports/bench.json, bench.md and bench.png.
 * Progress goes to stderr. Generated models and data live in the work folder (gitignored).
 * One module per section: daily-sections.ts (2, 2b-2d, 4), cost.ts (3a), write-policy.ts (6),
 * inference-section.ts (1), projection.ts (3b), scale-sim.ts (7), active-cost.ts (8); render.ts writes the files.
 *
 *   npm run bench -- [--full] [--quick] [--skip daily,paper-daily,lookup,cost,inference,paper,active-cost] [--work DIR] [--out DIR]
 *   npm run bench -- --daily-sizes 1000000 --skip lookup,cost,inference --out DIR   (the 1M day alone)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { benchActiveCost } from './active-cost.ts';
import { type ItemCost, measureItemCost } from './cost.ts';
import { bundleChild } from './daily.ts';
import { type DailyFigures, dailySections } from './daily-sections.ts';
import { modelShape } from './flops.ts';
import { readGpuResults } from './gpu-results.ts';
import { type InferenceFigures, inferenceSection } from './inference-section.ts';
import { measurer } from './measure.ts';
import { demoModel, PAPER_SIZE } from './models.ts';
import { elapsedSeconds, progress } from './progress.ts';
import { costProjection } from './projection.ts';
import { renderOnly, writeReports } from './render.ts';
import { scaleSection } from './scale-sim.ts';
import { type BenchSettings, parseFlags, type Section, settingsOf, skippedSections } from './settings.ts';
import { round } from './stats.ts';
import { evaluateTargets } from './targets.ts';
import type { BenchReport } from './types.ts';
import { benchWritePolicy, type WritePolicyResult } from './write-policy.ts';

function loadAverage(): number[] {
  try {
    return (spawnSync('cat', ['/proc/loadavg']).stdout.toString().split(' ').slice(0, 3) as string[]).map(Number);
  } catch {
    return [];
  }
}

/** The machine the figures were measured on. */
function machineOf(threads: number, loadAverageStart: number[]): BenchReport['machine'] {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: round(totalmem() / 2 ** 30),
    node: process.version,
    onnxruntimeNode: (ort.env as { versions?: { common?: string } }).versions?.common ?? 'unknown',
    threads,
    loadAverageStart,
    loadAverageEnd: loadAverage(),
  };
}

/** 3a: bytes and write units per item, through the real store. */
async function itemCosts(settings: BenchSettings, demoEmbedding: number): Promise<ItemCost[]> {
  progress('write cost: 1000 items per (dims, dtype) through DynamoEmbeddingStore on dynalite');
  return measureItemCost(
    [
      { dims: demoEmbedding, dtype: 'float16' },
      { dims: demoEmbedding, dtype: 'float32' },
      { dims: PAPER_SIZE.embedding, dtype: 'float16' },
      { dims: PAPER_SIZE.embedding, dtype: 'float32' },
    ],
    settings.quick ? 100 : 1000,
  );
}

/** 6: write only what changed: the quality replay (PyTorch) and the daily run with the policy. */
function writePolicySection(
  work: string,
  modelDir: string,
  quick: boolean,
  errors: string[],
): Promise<WritePolicyResult> {
  return benchWritePolicy({
    workDir: work,
    modelDir,
    users: quick ? 2000 : 20_000,
    days: quick ? 3 : 6,
    steps: quick ? 20 : 200,
    onError: (what, error) => {
      errors.push(`${what}: ${(error as Error).message}`);
      progress(`${what} FAILED: ${(error as Error).message}`);
    },
  });
}

/** The daily runs' write statistics, per size and day (section 3a's second table). */
function writesFromDailyRuns(daily: DailyFigures['daily']): Record<string, number>[] {
  return daily.flatMap((d) =>
    d.runs.map((r) => ({
      users: d.users,
      embeddedUsers: r.embeddedUsers,
      requestsPer1kUsers: round((1000 * r.writeStats.requests) / Math.max(1, r.writeStats.items)),
      retries: r.writeStats.retries,
      throttles: r.writeStats.throttles,
    })),
  );
}

/** What one run measured, before the scale plan and the targets. */
interface Measured {
  readonly settings: BenchSettings;
  readonly loadStart: number[];
  readonly daily: DailyFigures;
  readonly items: ItemCost[];
  readonly writePolicy?: WritePolicyResult;
  readonly activeCost?: BenchReport['activeCost'];
  readonly inference: InferenceFigures;
  readonly projection?: BenchReport['projection'];
  readonly gpu?: BenchReport['gpu'];
  readonly errors: string[];
}

/** The highest GEMM figure of the inference section's start and end probes. */
function peakOf({ gemmStart, gemmEnd }: InferenceFigures): number {
  return Math.max(gemmStart?.peakGflops ?? 0, gemmEnd?.peakGflops ?? 0);
}

function reportOf(m: Measured): BenchReport {
  const { gemmStart, gemmEnd, demoResult, paperResult, padding } = m.inference;
  const { daily, pipelining, lanes, lookup } = m.daily;
  return {
    createdAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    wallSeconds: round(elapsedSeconds()),
    machine: machineOf(m.settings.threads, m.loadStart),
    settings: m.settings,
    gemm: {
      ...(gemmStart ? { start: gemmStart } : {}),
      ...(gemmEnd ? { end: gemmEnd } : {}),
      peakGflops: peakOf(m.inference),
    },
    inference: {
      ...(demoResult ? { demo: demoResult } : {}),
      ...(paperResult ? { paper: paperResult } : {}),
      ...(padding ? { padding } : {}),
    },
    daily,
    ...(pipelining ? { pipelining } : {}),
    ...(lanes ? { lanes } : {}),
    writeCost: { items: m.items, fromDailyRuns: writesFromDailyRuns(daily) },
    ...(m.projection ? { projection: m.projection } : {}),
    lookup,
    ...(m.gpu ? { gpu: m.gpu } : {}),
    ...(m.writePolicy ? { writePolicy: m.writePolicy } : {}),
    ...(m.activeCost ? { activeCost: m.activeCost } : {}),
    targets: [],
    errors: m.errors,
  };
}

/** Every section in the order their data needs, then the projection, the scale plan and the targets. */
async function runAll(settings: BenchSettings, skip: ReadonlySet<Section>, flags: ReturnType<typeof parseFlags>) {
  const work = resolve(flags.work);
  const errors: string[] = [];
  const measure = measurer(errors);
  const loadStart = loadAverage();
  progress(`benchmark: ${JSON.stringify(settings)}; load average ${loadStart.join(' ')}`);
  const { model: demo, trained } = await demoModel(work, flags.model);
  const dims = demo.manifest.dims;
  // the measured runs start bundled, as the demo and the Batch container do (bench/daily.ts)
  await measure('bundling bench/daily-child.ts', bundleChild);
  const demoRef = { dir: demo.dir, modelVersion: demo.manifest.modelVersion, itemVector: dims.itemVector };
  const daily = await dailySections({ work, settings, skip, demo: demoRef, measure });
  const items = skip.has('cost') ? [] : await itemCosts(settings, dims.embedding);
  const writePolicy = skip.has('write-policy')
    ? undefined
    : await writePolicySection(work, demo.dir, settings.quick, errors);
  // ---- 8. cost that follows active users: a full snapshot daily against deltas, side by side
  const activeCost = skip.has('active-cost')
    ? undefined
    : await measure('active-cost', () =>
        benchActiveCost({ workDir: work, modelDir: demo.dir, users: settings.quick ? 2000 : 20_000 }),
      );
  const { steady } = daily;
  const inference: InferenceFigures = skip.has('inference')
    ? {}
    : await inferenceSection({
        work,
        threads: settings.threads,
        quick: settings.quick,
        withPaper: !skip.has('paper'),
        settings,
        demo,
        trained,
        sequences: daily.embedded.map((u) => u.events),
        cutoffMs: steady ? Date.parse(`${steady.date}T00:00:00Z`) + 86_400_000 : undefined,
        errors,
      });
  const gpu = readGpuResults(flags.gpu);
  const projection = costProjection({
    smallest: daily.smallest,
    items,
    demoShape: modelShape(demo.manifest),
    demoDims: dims,
    peakGflops: peakOf(inference),
    inference: { demo: inference.demoResult, paper: inference.paperResult, padding: inference.padding },
    ...(daily.pipelining ? { pipelining: daily.pipelining } : {}),
    ...(writePolicy ? { writePolicy } : {}),
    ...(gpu ? { gpu } : {}),
  });
  const report = reportOf({
    settings,
    loadStart,
    daily,
    items,
    inference,
    errors,
    ...(writePolicy ? { writePolicy } : {}),
    ...(activeCost ? { activeCost } : {}),
    ...(projection ? { projection } : {}),
    ...(gpu ? { gpu } : {}),
  });
  // ---- 7. the scale plan, from this run's figures (or reports/bench.json's where sections were skipped)
  const scale = skip.has('scale') ? undefined : await measure('scale', () => scaleSection(report, { workDir: work }));
  const withScale: BenchReport = { ...report, ...(scale ? { scale } : {}) };
  return { ...withScale, targets: evaluateTargets(withScale) };
}

export async function main(argv: readonly string[]): Promise<void> {
  const flags = parseFlags(argv);
  if (flags.render) {
    await renderOnly(flags.render, flags.out, flags.gpu, flags.work);
    return;
  }
  mkdirSync(resolve(flags.work), { recursive: true });
  mkdirSync(flags.out, { recursive: true });
  const report = await runAll(settingsOf(flags), skippedSections(flags), flags);
  writeReports(report, flags.out);
  for (const t of report.targets) progress(`target ${t.verdict} ${t.name}: ${t.measured}`);
}
