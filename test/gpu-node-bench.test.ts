// bench/gpu-node.ts, the timing of the Batch container's own GPU path (onnxruntime-node, CUDA EP):
// its dry run on the CPU provider, the error rows a missing provider or graph leaves, and how
// section 5 renders it beside PyTorch (or says that it is unmeasured).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type GpuNodeBench, GpuNodeBenchSchema, parseGpuNodeArgs, runGpuNodeBench } from '../bench/gpu-node.ts';
import { renderGpuNode } from '../bench/gpu-node-report.ts';
import { type GpuResults, readGpuResults } from '../bench/gpu-results.ts';
import { gpuPathTargets } from '../bench/targets.ts';

const work = mkdtempSync(join(tmpdir(), 'pf-gpu-node-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('gpu-node arguments', () => {
  it('defaults to the CUDA provider and refuses what it cannot run', () => {
    expect(parseGpuNodeArgs(['--model', 'm'])).toEqual({
      modelDir: 'm',
      out: 'reports/bench-gpu-node.json',
      batches: [64, 256, 1024],
      reps: 10,
      provider: 'cuda',
    });
    expect(() => parseGpuNodeArgs([])).toThrow(/--model DIR is required/);
    expect(() => parseGpuNodeArgs(['--model', 'm', '--batches', '64,0'])).toThrow(/--batches/);
    expect(() => parseGpuNodeArgs(['--model', 'm', '--reps', '1.5'])).toThrow(/--reps/);
    expect(() => parseGpuNodeArgs(['--model', 'm', '--provider', 'gpu'])).toThrow(/cuda or cpu/);
  });
});

describe('gpu-node dry run on the CPU provider', () => {
  it('times the model directory per batch and records a graph that does not open as an error row', async () => {
    const out = join(work, 'node.json');
    const report = await runGpuNodeBench({
      modelDir: 'models/demo',
      out,
      fp16Path: join(work, 'missing-fp16.onnx'),
      batches: [2, 3],
      reps: 1,
      provider: 'cpu',
    });
    const written = GpuNodeBenchSchema.parse(JSON.parse(readFileSync(out, 'utf8')));
    expect(written).toEqual(report);
    expect(report.rows.map((r) => [r.batch, r.contender, 'error' in r])).toEqual([
      [2, 'onnxruntime-node-fp32', false],
      [2, 'onnxruntime-node-fp16', true],
      [3, 'onnxruntime-node-fp32', false],
      [3, 'onnxruntime-node-fp16', true],
    ]);
    const timed = report.rows.find((r) => 'usersPerSec' in r && r.batch === 3);
    if (!timed || !('usersPerSec' in timed)) throw new Error('no timed row');
    expect(timed.usersPerSec).toBeCloseTo((3 * 1000) / timed.medianMs, 0);
    expect(timed.tflops).toBeCloseTo((report.flopsPerUser * 3) / (timed.medianMs / 1000) / 1e12, 3);
    expect(report.model).toBe('2x64, D 64, M 256');
  });

  it('records the CUDA provider failing to load as error rows, not a crash', async () => {
    const report = await runGpuNodeBench({
      modelDir: 'models/demo',
      out: join(work, 'cuda.json'),
      batches: [2],
      reps: 1,
      provider: 'cuda',
    });
    const row = report.rows[0]!;
    // on a machine with onnxruntime-node's CUDA libraries and a GPU this row is a timing instead
    if ('error' in row) expect(row.error).toMatch(/CUDA execution provider was requested/);
    else expect(row.usersPerSec).toBeGreaterThan(0);
  });
});

describe('section 5: the container path beside PyTorch', () => {
  const gpu = readGpuResults('reports') as GpuResults;
  const torch64 = gpu.bench.rows.find((r) => r.batch === 64 && r.contender === 'pytorch-fp32');
  const node: GpuNodeBench = {
    createdAt: '2026-12-04T00:00:00Z',
    provider: 'cuda',
    onnxruntimeNode: '1.30.0',
    model: '6x768, D 256, M 256',
    length: 256,
    flopsPerUser: gpu.bench.flopsPerUser,
    reps: 10,
    rows: [
      {
        batch: 64,
        contender: 'onnxruntime-node-fp32',
        medianMs: 40,
        usersPerSec: 1600,
        tflops: 25.5,
        cosineMinVsFp32: null,
      },
      {
        batch: 7,
        contender: 'onnxruntime-node-fp32',
        medianMs: 4,
        usersPerSec: 1750,
        tflops: 27.9,
        cosineMinVsFp32: null,
      },
      { batch: 64, contender: 'onnxruntime-node-fp16', error: 'no fp16 kernel' },
    ],
    note: 'n',
  };

  it('divides by PyTorch at the same batch and precision, and by the measured GEMM rate', () => {
    if (!torch64 || !('usersPerSec' in torch64))
      throw new Error('reports/bench-gpu.json lacks pytorch-fp32 at batch 64');
    const lines = renderGpuNode(gpu, node);
    const row64 = lines.find((l) => l.startsWith('| 64 | onnxruntime-node-fp32'));
    expect(row64).toContain(`${(1600 / torch64.usersPerSec).toFixed(2)}×`);
    expect(row64).toContain(`${((100 * 25.5) / (gpu.bench.measuredGemmTflops.fp32 as number)).toFixed(1)}%`);
    expect(lines.find((l) => l.startsWith('| 7 |'))).toContain('no PyTorch row at this batch');
    expect(lines.find((l) => l.startsWith('| 64 | onnxruntime-node-fp16'))).toContain('error: no fp16 kernel');
  });

  it('says the path is unmeasured when the GPU session left no file for it', () => {
    expect(renderGpuNode(gpu, undefined).join('\n')).toMatch(/own path .* is unmeasured/);
  });

  it('judges the GPU-path target on the container engine: MET with both precisions, MISS with errors only', () => {
    const fp16 = {
      batch: 64,
      contender: 'onnxruntime-node-fp16',
      medianMs: 10,
      usersPerSec: 6400,
      tflops: 102,
      cosineMinVsFp32: 0.9999,
    };
    const met = gpuPathTargets({ ...gpu, node: { ...node, rows: [...node.rows, fp16] } })[0]!;
    expect(met.verdict).toBe('MET');
    expect(met.measured).toMatch(/^onnxruntime-node CUDA EP 6400 users\/s at best \(fp32, fp16\)/);
    const onlyErrors = gpuPathTargets({ ...gpu, node: { ...node, rows: [node.rows[2]!] } })[0]!;
    expect(onlyErrors.verdict).toBe('MISS');
    expect(onlyErrors.measured).toMatch(/only error rows/);
    const fp32Only = gpuPathTargets({ ...gpu, node })[0]!;
    expect(fp32Only.verdict).toBe('MISS');
  });
});
