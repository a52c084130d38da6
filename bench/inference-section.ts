/**
 * Section 1: inference throughput of the demo and paper-size models, side by side with PyTorch and
 * the GEMM probe, and the padding contest on the smallest daily run's users.
 */
import { join } from 'node:path';
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
import { type demoModel, gemmModel, modelVariants, PAPER_SIZE, randomModelDir } from './models.ts';
import { progress } from './progress.ts';
import { TorchServer } from './python.ts';
import type { BenchReport } from './types.ts';

/** What the inference section measures: GEMM peaks at start and end, both models' contests, padding. */
export interface InferenceFigures {
  gemmStart?: GemmPeak;
  gemmEnd?: GemmPeak;
  demoResult?: BenchReport['inference']['demo'];
  paperResult?: BenchReport['inference']['paper'];
  padding?: PaddingResult;
}

/** Section 1: inference throughput, side by side with PyTorch and the GEMM probe. */
export async function inferenceSection(input: {
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
