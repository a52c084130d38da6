/**
 * Section 5, the container's path: onnxruntime-node with the CUDA EP (bench/gpu-node.ts) beside
 * PyTorch on the same GPU, at the same batch and precision, against the GPU's measured GEMM rate.
 */
import type { GpuNodeBench } from './gpu-node.ts';
import type { GpuResults } from './gpu-results.ts';
import { measuredRows } from './gpu-results.ts';
import { pct } from './stats.ts';

const PYTORCH_OF = {
  'onnxruntime-node-fp32': 'pytorch-fp32',
  'onnxruntime-node-fp16': 'pytorch-fp16-autocast',
} as const;
const GEMM_OF = { 'onnxruntime-node-fp32': 'fp32', 'onnxruntime-node-fp16': 'fp16' } as const;

/** Markdown lines for the container's own path, or what is missing to measure it. */
export function renderGpuNode(gpu: GpuResults, node: GpuNodeBench | undefined): string[] {
  if (node === undefined) {
    return [
      "**The Batch container's own path (onnxruntime-node, CUDA EP) is unmeasured**: no bench-gpu-node.json from this GPU session. `bench/gpu.sh` runs `bench/gpu-node.ts` as its last step when `node` and onnxruntime-node's CUDA provider libraries are on the GPU machine (docs/deploy.md, \"Timing the container's GPU path\").",
      '',
    ];
  }
  const torch = measuredRows(gpu);
  const rows = node.rows.map((row) => {
    if ('error' in row) return `| ${row.batch} | ${row.contender} | error: ${row.error.slice(0, 100)} | | | | |`;
    const name = row.contender as keyof typeof PYTORCH_OF;
    const gemm = gpu.bench.measuredGemmTflops[GEMM_OF[name] ?? 'fp32'];
    const twin = torch.find((t) => t.batch === row.batch && t.contender === PYTORCH_OF[name]);
    const vsTorch = twin ? `${(row.usersPerSec / twin.usersPerSec).toFixed(2)}×` : 'no PyTorch row at this batch';
    const cosine = row.cosineMinVsFp32 === null ? '' : row.cosineMinVsFp32.toFixed(5);
    return `| ${row.batch} | ${row.contender} | ${Math.round(row.usersPerSec)} | ${row.tflops.toFixed(1)} | ${gemm ? pct(row.tflops / gemm) : ''} | ${vsTorch} | ${cosine} |`;
  });
  return [
    `The Batch container's own path, onnxruntime-node ${node.onnxruntimeNode} with the ${node.provider} provider (bench/gpu-node.ts, ${node.createdAt}; ${node.model}; ${node.note}). "vs PyTorch" divides by PyTorch's row at the same batch and precision in the table above.`,
    '',
    '| batch | contender | users/s | TFLOP/s | % of measured GEMM | vs PyTorch | min cosine vs fp32 |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ];
}
