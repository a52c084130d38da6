/**
 * The issue's targets (issue 7) judged against a report: met or missed, by how much, and the
 * reason the figures point at.
 */

import { activeCostTargets } from './active-cost-report.ts';
import { type ModelShape, maskedAttentionFlops } from './flops.ts';
import { type GpuResults, measuredNodeRows, measuredRows } from './gpu-results.ts';
import type { ContenderRow, ModelInferenceResult } from './inference.ts';
import { scaleTargets, writePolicyTargets } from './scale-report.ts';
import { pct, round } from './stats.ts';
import type { BenchReport, TargetResult } from './types.ts';
import { judge, retired } from './verdict.ts';

export { judge, retired };

/** Variants that stand in for fp32: accuracy at least this cosine against onnxruntime fp32. */
export const MIN_COSINE = 0.999;

interface Best {
  readonly row: ContenderRow;
  readonly batch: number;
}

/**
 * The highest GEMM figure measured anywhere in the run (start/end probes and every contest
 * round, either library): the conservative denominator for verdicts and projections, since a
 * probe round slowed by the shared machine would flatter a same-round fraction.
 */
export function runGemmPeak(startEndPeak: number, results: readonly (ModelInferenceResult | undefined)[]): number {
  const rounds = results.flatMap(
    (r) => r?.batches.map((b) => Math.max(b.gemmGflops?.onnxruntime ?? 0, b.gemmGflops?.torch ?? 0)) ?? [],
  );
  return Math.max(startEndPeak, ...rounds);
}

function best(result: ModelInferenceResult, accept: (row: ContenderRow) => boolean): Best | undefined {
  let out: Best | undefined;
  for (const b of result.batches) {
    for (const row of b.contenders) {
      if (accept(row) && row.usersPerSec > 0 && (!out || row.usersPerSec > out.row.usersPerSec))
        out = { row, batch: b.batch };
    }
  }
  return out;
}

const isOrt = (row: ContenderRow): boolean => row.name !== 'pytorch';
const isInt8 = (row: ContenderRow): boolean => row.name.includes('int8');
const accurate = (row: ContenderRow): boolean => (row.cosineMin ?? 0) >= MIN_COSINE;
/** An fp32 onnxruntime graph that computes what the exported model computes. */
const exactFp32 = (row: ContenderRow): boolean => isOrt(row) && !isInt8(row) && (row.cosineMin ?? 0) >= 0.9999;

/** FLOP per user of attention (scores and attention×V) as a causal kernel computes it. */
export function causalAttentionFlops(shape: ModelShape, length: number): number {
  const options = { lastBlockAtLastPosition: true };
  const fullLayers = shape.layers > 0 ? shape.layers - 1 : 0;
  const uncounted =
    fullLayers * 2 * length * length * shape.hidden * 2 + (shape.layers > 0 ? 2 * length * shape.hidden * 2 : 0);
  return uncounted - maskedAttentionFlops(shape, length, options);
}

/**
 * Same-batch comparison of the best exact fp32 onnxruntime graph with PyTorch eager: at each batch,
 * the ratio of their median users/s over the contest's reps (both ran round robin on that batch).
 */
export function sameBatchMedians(result: ModelInferenceResult): { batch: number; graph: string; ratio: number }[] {
  const out: { batch: number; graph: string; ratio: number }[] = [];
  for (const b of result.batches) {
    const torch = b.contenders.find((r) => r.name === 'pytorch');
    const exact = b.contenders
      .filter(exactFp32)
      .reduce<ContenderRow | undefined>((a, r) => (!a || r.usersPerSecMedian > a.usersPerSecMedian ? r : a), undefined);
    if (torch && exact && torch.usersPerSecMedian > 0)
      out.push({
        batch: b.batch,
        graph: exact.name,
        ratio: round(exact.usersPerSecMedian / torch.usersPerSecMedian, 3),
      });
  }
  return out;
}

function ortVsTorch(label: string, result: ModelInferenceResult | undefined, reps: unknown): TargetResult[] {
  if (!result) return [];
  const ratios = sameBatchMedians(result);
  if (ratios.length === 0) return [];
  return [
    retired({
      name: `onnxruntime-node vs PyTorch eager, ${label}`,
      target: '≥ 1.5× users/s (retired)',
      measured: `median users/s over ${typeof reps === 'number' ? reps : 'the'} reps, same batch, best exact fp32 graph over PyTorch: ${ratios.map((r) => `B=${r.batch} ${r.ratio}× (${r.graph})`).join(', ')}`,
      why: 'retired: the 1.5× goal was set against an earlier, slower PyTorch eager baseline, so meeting or missing it says more about that baseline than about the product. The comparison stays as information; what the product needs is judged by the cost and scale targets.',
    }),
  ];
}

export function evaluateTargets(report: Omit<BenchReport, 'targets'>): TargetResult[] {
  const out: TargetResult[] = [];
  const { demo, paper, padding } = report.inference;
  // onnxruntime's best bare-MatMul figure anywhere in the run (the probe is as noisy as the rest)
  const ortGemmBest = Math.max(
    report.gemm.start?.onnxruntimeGflops ?? 0,
    report.gemm.end?.onnxruntimeGflops ?? 0,
    ...[demo, paper].flatMap((m) => m?.batches.map((b) => b.gemmGflops?.onnxruntime ?? 0) ?? []),
  );
  out.push(
    ...ortVsTorch('demo model', demo, report.settings.reps),
    ...ortVsTorch('paper size', paper, report.settings.paperReps),
  );

  if (padding) {
    out.push(
      judge({
        name: 'length bucketing vs padded to M',
        target: '≥ 3× effective users/s',
        measured: `${padding.speedup}× with the pipeline's default limits, ${padding.bestSpeedup}× with ${padding.best.name} (${padding.best.usersPerSec} vs ${padding.paddedToM.usersPerSec} users/s; mean length ${padding.meanLength}, p50 ${padding.p50Length}, p90 ${padding.p90Length})`,
        value: padding.speedup,
        goal: 3,
        why: (met) =>
          met
            ? `padded tokens fall from ${padding.paddedToM.paddedTokens} to ${padding.bucketed.paddedTokens} (real ${padding.realTokens}); attention's L² term falls faster still.`
            : `the ceiling set by the data is about padded/real tokens = ${round(padding.paddedToM.paddedTokens / padding.realTokens)}× (a bit more for attention's L² term): ${padding.p90Length === padding.maxLength ? 'over 10% of the embedded users are at the cap M, and those cost the same either way' : 'the length distribution is not heavy-tailed enough'}.`,
      }),
    );
  }

  // Verdicts divide by the highest GEMM figure of the whole run (the tables show same-round fractions too).
  const peak = runGemmPeak(report.gemm.peakGflops, [demo, paper]);
  const ofRunPeak = (row: ContenderRow): number => (row.usersPerSec * row.flopsPerUser) / 1e9 / peak;
  const peakNote = `of the run's highest GEMM figure (${peak} GFLOP/s)`;
  if (demo) {
    // fp32 graphs only (int8 is a different computation: shown beside, not judged), FLOP counted
    // with causal attention as computed: the masked query-key pairs are left out
    const length = demo.batches[0]?.length ?? demo.shape.maxLength;
    const masked = maskedAttentionFlops(demo.shape, length, { lastBlockAtLastPosition: true });
    const asComputed = (row: ContenderRow): number => (row.usersPerSec * (row.flopsPerUser - masked)) / 1e9 / peak;
    const fp32 = best(demo, (r) => isOrt(r) && !isInt8(r) && accurate(r));
    const int8 = best(demo, (r) => isInt8(r) && accurate(r));
    if (fp32) {
      const f = asComputed(fp32.row);
      const counted = fp32.row.flopsPerUser - masked;
      out.push(
        judge({
          name: `demo model at length ${length}, fraction of the FLOP limit`,
          target: `≥ 20% of the measured GEMM peak, fp32 graphs (cosine ≥ ${MIN_COSINE} vs fp32); FLOP with causal attention counted as computed`,
          measured: `${pct(f)} ${peakNote} with ${fp32.row.name} at batch ${fp32.batch} (${fp32.row.usersPerSec} users/s, best of reps; ${round(counted / 1e6, 3)} MFLOP/user counted, ${round(masked / 1e6, 3)} masked left out; with the masked pairs credited it would read ${pct(ofRunPeak(fp32.row))})${int8 ? `; int8 ${int8.row.name} (cosine ${int8.row.cosineMin}, not judged): ${pct(asComputed(int8.row))} in fp32-equivalent FLOP` : ''}`,
          value: f,
          goal: 0.2,
          why: (met) =>
            `${met ? 'met' : 'missed'} on this run's figures: at width ${demo.shape.hidden} the counted work is small GEMMs (K = ${demo.shape.hidden}) and causal attention (${pct(causalAttentionFlops(demo.shape, length) / counted)} of the counted FLOP), while the element-wise passes the count leaves out (softmax, LayerNorm, GELU, time encoding) take time without adding FLOP.`,
        }),
      );
    }
  }

  if (paper) {
    // best fp32 graph by users/s (int8 is a different computation: shown, not judged)
    const fp32 = best(paper, (r) => isOrt(r) && !r.name.includes('int8') && accurate(r));
    const int8 = best(paper, (r) => r.name.includes('int8') && accurate(r));
    if (fp32) {
      const f = ofRunPeak(fp32.row);
      const gemm = paper.batches.find((b) => b.batch === fp32.batch)?.gemmGflops;
      const achieved = (fp32.row.usersPerSec * fp32.row.flopsPerUser) / 1e9;
      const ofOwn = ortGemmBest > 0 ? achieved / ortGemmBest : Number.NaN;
      out.push(
        judge({
          name: 'paper size (6×768) at its best batch, fraction of the GEMM peak',
          target: '≥ 80% of the measured GEMM peak',
          measured: `fp32: ${pct(f)} ${peakNote} with ${fp32.row.name} at batch ${fp32.batch} (${fp32.row.usersPerSec} users/s, ${round(achieved, 3)} GFLOP/s)${Number.isFinite(ofOwn) ? `, ${pct(ofOwn)} of onnxruntime's best bare-MatMul figure (${ortGemmBest} GFLOP/s)` : ''}${int8 ? `; int8 ${int8.row.name} (cosine ${int8.row.cosineMin}, not judged): ${int8.row.usersPerSec} users/s = ${pct(ofRunPeak(int8.row))} in fp32-equivalent FLOP` : ''}`,
          value: f,
          goal: 0.8,
          why: (met) =>
            met
              ? 'at width 768 the GEMMs dominate (24·H·L vs 4·L² FLOP per layer) and run near the kernel peak.'
              : `the peak is set by MKL (torch.mm); onnxruntime's MLAS SGEMM reaches less on this CPU${gemm ? ` (${gemm.onnxruntime} vs ${gemm.torch} GFLOP/s in the same rounds)` : ''}, and the graph ${Number.isFinite(ofOwn) && ofOwn >= 0.8 ? 'already runs at its own MatMul peak' : 'also spends time in softmax over [B, 8, 256, 256], LayerNorm and GELU'}. The remaining gap is the GEMM library, not the graph.`,
        }),
      );
    }
  }

  const steadyRuns = (shipped: boolean) =>
    report.daily
      .filter((d) => (d.model === 'shipped') === shipped)
      .flatMap((d) => d.runs.filter((r) => r.role === 'steady').map((r) => ({ users: d.users, model: d.model, r })));
  const steady = steadyRuns(true);
  const paperSize = steadyRuns(false);
  if (steady.length > 0) {
    const worst = steady.reduce((a, c) => (c.r.inferShare < a.r.inferShare ? c : a));
    const paper = paperSize[0];
    const pipe = report.pipelining;
    const piped = pipe?.rounds.filter((x) => x.mode === 'pipelined') ?? [];
    const bestBusy = piped.length > 0 ? Math.max(...piped.map((x) => x.inference.busyShare)) : undefined;
    const components = Object.entries(pipe?.profile?.cpuSecondsByComponent ?? {}).sort((a, b) => b[1] - a[1]);
    const stageCpu = pipe?.profile?.stageCpuSeconds ?? 1;
    const topOthers = components
      .filter(([k]) => !k.startsWith('inference'))
      .slice(0, 4)
      .map(([k, v]) => `${k} ${pct(v / stageCpu)}`)
      .join(', ');
    const cpuShare = worst.r.inferCpuShare;
    const largest = components.length > 0 && components[0]![0].startsWith('inference');
    // inference's CPU share with the local table's server and all snapshot parquet work taken away
    const cpuOf = (prefix: string) => components.find(([k]) => k.startsWith(prefix))?.[1] ?? 0;
    const inferenceCpu = cpuOf('inference');
    const withoutLocalAndSnapshots =
      inferenceCpu /
      (stageCpu - cpuOf('embedded table server') - cpuOf('parquet columns') - cpuOf('parquet write') || 1);
    out.push(
      judge({
        name: 'embed stage: share of time in inference (demo model)',
        target: '≥ 70% of the embed stage',
        measured: `${steady.map(({ users, r }) => `${users} users: ${pct(r.inferShare)}${r.inferCpuShare === undefined ? '' : ` (${pct(r.inferCpuShare)} of its CPU)`}`).join(', ')}${bestBusy === undefined ? '' : `; pipelined (inference threads): lanes busy ${pct(bestBusy)} at ${pipe!.users} users, ${pipe!.meanEmbedSeconds.ratio}× the serial stage time`}`,
        value: worst.r.inferShare,
        goal: 0.7,
        why: (met) =>
          met
            ? 'inference dominates; read, merge, featurize, write and snapshot are small shares.'
            : `on these 2 cores the embed stage is CPU-bound, so its time follows its CPU: inference takes ${cpuShare === undefined ? 'well under half' : pct(cpuShare)} of the stage's CPU (the demo model costs ${round((report.inference.demo?.batches[0]?.flopsPerUser ?? Number.NaN) / 1e6)} MFLOP per full-length user in this run's count), and its share of time (${pct(worst.r.inferShare)} at ${worst.users} users) is higher only because an inference thread also waits for a core.${topOthers ? `${largest ? ` At ${pipe!.users} users inference is still the largest single part of the CPU (the issue's first goal).` : ''} The rest of the CPU goes to ${topOthers} (section 2, CPU by component), where the embedded table's server is dynalite in this same process, which on AWS is DynamoDB's.` : ''} Overlap cannot fix a CPU-bound split: pipelining (inference threads, a second partition per worker; what the Batch container does beside its GPU) ${bestBusy === undefined ? 'raises the busy share' : `raised the lanes' busy share to ${pct(bestBusy)}`} but not the CPU share, at ${pipe ? `${pipe.meanEmbedSeconds.ratio}×` : 'no better'} the stage time, so the runner pipelines only with cores to spare. Reaching 70% here needs less CPU per user outside inference everywhere, not in one place${inferenceCpu > 0 ? `: even without the embedded table's server and every parquet read and write (the snapshots are re-read and re-encoded for every user of a partition, O(all users), while inference is O(active users)) inference would be ${pct(withoutLocalAndSnapshots)} of the CPU` : ''}.${paper ? ` At the paper's model size the same pipeline spends ${pct(paper.r.inferShare)} of the embed stage in inference (next row).` : ''}`,
      }),
    );
  }
  for (const { users, model, r } of paperSize) {
    out.push(
      judge({
        name: `embed stage: share of time in inference (${model})`,
        target: '≥ 70% of the embed stage',
        measured: `${users} users, steady day: ${pct(r.inferShare)} (${r.embeddedUsers} embedded, ${r.embedUsersPerSec} users/s)`,
        value: r.inferShare,
        goal: 0.7,
        why: (met) =>
          met
            ? `at the production model size inference dominates the embed stage: the same read, merge, write and snapshot work per user is small next to ${round((report.inference.paper?.batches[0]?.flopsPerUser ?? Number.NaN) / 1e9, 3)} GFLOP per full-length user (this run's count).`
            : 'even at this size I/O takes a large share: see the per-step split in section 2.',
      }),
    );
  }
  if (steady.length >= 2) {
    const a = steady[0]!;
    const b = steady[steady.length - 1]!;
    const exponent =
      Math.log((b.r.secondsByStage.embed ?? 0) / (a.r.secondsByStage.embed ?? 1)) /
      Math.log(b.r.embeddedUsers / a.r.embeddedUsers);
    out.push(
      judge({
        name: 'embed-stage time grows linearly with embedded users',
        target: 'exponent ≤ 1.15 (time ∝ users^exponent)',
        measured: `exponent ${round(exponent, 3)} from ${a.r.embeddedUsers} to ${b.r.embeddedUsers} embedded users (${a.r.embedUsersPerSec} → ${b.r.embedUsersPerSec} users/s)`,
        value: exponent,
        goal: 1.15,
        atMost: true,
        why: (met) =>
          met
            ? 'per-user work is constant: the runner partitions by user hash and every partition is independent.'
            : 'a per-run cost grows faster than the users: look at the per-stage times (partition and publish are run-wide).',
      }),
    );
  }
  out.push(
    ...writePolicyTargets(report.writePolicy),
    ...scaleTargets(report.scale),
    ...activeCostTargets(report.activeCost),
    ...gpuPathTargets(report.gpu),
  );
  return out;
}

/**
 * Issue 20, part 4: the Batch container's own GPU path measured beside PyTorch on the same GPU,
 * fp32 and fp16. The container's engine is onnxruntime-node (bench/gpu-node.ts); where it has not
 * run, Python onnxruntime's CUDA rows (the same engine) count. A MISS until rows exist in both
 * precisions.
 */
export function gpuPathTargets(gpu: GpuResults | undefined): TargetResult[] {
  const rows = gpu === undefined ? [] : measuredRows(gpu);
  const nodeRows = gpu === undefined ? [] : measuredNodeRows(gpu);
  const ort = nodeRows.length > 0 ? nodeRows : rows.filter((r) => r.contender.startsWith('onnxruntime'));
  const engine = nodeRows.length > 0 ? 'onnxruntime-node' : 'onnxruntime (Python)';
  const precisions = ['fp32', 'fp16'].filter((p) => ort.some((r) => r.contender.includes(p)));
  const best = (of: readonly { usersPerSec: number }[]) => of.reduce((a, r) => Math.max(a, r.usersPerSec), 0);
  const torch = best(rows.filter((r) => r.contender.startsWith('pytorch')));
  const measured =
    gpu === undefined
      ? 'no GPU session in this report (bench/gpu.sh writes reports/bench-gpu.json)'
      : ort.length === 0
        ? `not measured on ${gpu.bench.gpu} (${gpu.bench.createdAt}): ${gpu.node ? 'bench-gpu-node.json has only error rows' : (gpu.bench.onnxruntimeCuda.reason ?? 'no onnxruntime CUDA rows')}; PyTorch on the same GPU ${Math.round(torch)} users/s at best`
        : `${engine} CUDA EP ${Math.round(best(ort))} users/s at best (${precisions.join(', ')}) vs PyTorch ${Math.round(torch)} users/s on ${gpu.bench.gpu}`;
  return [
    judge({
      name: "GPU path of the Batch container (onnxruntime's CUDA EP) beside PyTorch on the same GPU",
      target: "measured in fp32 and fp16 against the GPU's measured GEMM rate (section 5)",
      measured,
      value: precisions.length,
      goal: 2,
      why: (met) =>
        met
          ? 'section 5 has the rows, their share of the measured GEMM rate and the PyTorch rows beside them'
          : 'the container path has not run on a GPU with the CUDA provider libraries yet; bench/gpu.sh (step 4: bench/gpu-node.ts) is ready for the next GPU session (docs/deploy.md, "Timing the container\'s GPU path"), and the PyTorch rows in section 5 stand in for it',
    }),
  ];
}
