/**
 * The issue's targets (issue 7) judged against a report: met or missed, by how much, and the
 * reason the figures point at.
 */
import type { ContenderRow, ModelInferenceResult } from './inference.ts';
import type { BenchReport } from './main.ts';
import { scaleTargets, writePolicyTargets } from './scale-report.ts';
import { round } from './stats.ts';

export interface TargetResult {
  readonly name: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
  /** measured / target (above 1 is met for "at least" targets). */
  readonly ratio: number;
  readonly why: string;
}

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
const accurate = (row: ContenderRow): boolean => (row.cosineMin ?? 0) >= MIN_COSINE;
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function ortVsTorch(label: string, result: ModelInferenceResult | undefined, ortGemmBest: number): TargetResult[] {
  if (!result) return [];
  // Each runtime at its own best batch (robust to one runtime's bad batch size), on the same
  // batches and threads. fp32 graphs only: an int8 graph is a different computation (reported).
  const torch = best(result, (r) => r.name === 'pytorch');
  const base = best(result, (r) => r.name === 'onnxruntime');
  const exact = best(result, (r) => isOrt(r) && !r.name.includes('int8') && (r.cosineMin ?? 0) >= 0.9999);
  const int8 = best(result, (r) => r.name.includes('int8') && accurate(r));
  if (!torch || !base || !exact) return [];
  const ratio = exact.row.usersPerSec / torch.row.usersPerSec;
  const perBatch = result.batches.map((b) => `B=${b.batch} ${b.ortOverTorch}×`).join(', ');
  // The physical limit of an fp32 graph on this CPU: onnxruntime's own GEMM peak (a bare MatMul,
  // same rounds) over the FLOP rate PyTorch's whole model already reaches.
  const torchBatch = result.batches.find((b) => b.batch === torch.batch);
  const torchGflops = (torch.row.usersPerSec * torch.row.flopsPerUser) / 1e9;
  const limit = ortGemmBest > 0 ? ortGemmBest / torchGflops : Number.POSITIVE_INFINITY;
  const gemmLine = torchBatch?.gemmGflops
    ? ` In the same rounds torch.mm ran at ${torchBatch.gemmGflops.torch} GFLOP/s and onnxruntime's MatMul at ${torchBatch.gemmGflops.onnxruntime} (MKL vs MLAS SGEMM on this AVX-512 CPU).`
    : '';
  const why =
    ratio >= 1.5
      ? `PyTorch eager runs the hand-written attention op by op (${pct(torch.row.peakFraction)} of the GEMM peak at its best batch); onnxruntime runs a fused, memory-planned graph.${gemmLine}`
      : limit < 1.5
        ? `PyTorch reaches ${round(torchGflops, 3)} GFLOP/s (${pct(torch.row.peakFraction)} of the GEMM peak) at its best batch ${torch.batch}; an fp32 onnxruntime graph is bounded by onnxruntime's own best GEMM figure of the run (${ortGemmBest} GFLOP/s), i.e. at most ${round(limit, 3)}× PyTorch here, below the 1.5× goal: only int8 (VNNI; a different computation, accuracy shown) gets past it.${gemmLine}`
        : `not the GEMM library (onnxruntime could be up to ${round(limit, 3)}× PyTorch on GEMM alone): PyTorch runs this small-width model at ${pct(torch.row.peakFraction)} of the GEMM peak, onnxruntime's best exact graph at ${pct(exact.row.peakFraction)}. Per operator (bench/python/profile_ops.py, B 32, 2 threads) both now spend their time alike: the causal attention is about a third (onnxruntime's Attention op, denormals flushed, runs near PyTorch's flash kernel), the GEMMs about a quarter, and the rest is width-${result.shape.hidden} element-wise passes that no ONNX-level fusion removes: the time encoding's Sin and Cos (single-threaded scalar kernels in onnxruntime, 12-15% of its time vs ~3% in PyTorch), the input Concat, LayerNorm and GELU. The graph rewrites left are small: without Sin and Cos at all the graph ran 15% faster, and splitting the causal attention into query blocks that skip masked keys saved at most 10% of the attention op. 1.5× would need attention and the element-wise work fused into the GEMMs (a custom kernel), and onnxruntime-node's binding cannot load one: its session options are the standard ones plus string config entries, with no custom-operator library.${gemmLine}`;
  return [
    {
      name: `onnxruntime-node vs PyTorch eager, ${label}`,
      target: '≥ 1.5× users/s, same model, batches and threads',
      measured: `${round(ratio, 3)}× with ${exact.row.name} (${exact.row.usersPerSec} users/s at B=${exact.batch}) vs PyTorch ${torch.row.usersPerSec} at B=${torch.batch}; plain model.onnx ${round(base.row.usersPerSec / torch.row.usersPerSec, 3)}×; same batch: ${perBatch}${int8 ? `; int8 ${int8.row.name} ${round(int8.row.usersPerSec / torch.row.usersPerSec, 3)}× (cosine ${int8.row.cosineMin})` : ''}`,
      met: ratio >= 1.5,
      ratio: round(ratio / 1.5),
      why,
    },
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
  out.push(...ortVsTorch('demo model', demo, ortGemmBest), ...ortVsTorch('paper size', paper, ortGemmBest));

  if (padding) {
    out.push({
      name: 'length bucketing vs padded to M',
      target: '≥ 3× effective users/s',
      measured: `${padding.speedup}× with the pipeline's default limits, ${padding.bestSpeedup}× with ${padding.best.name} (${padding.best.usersPerSec} vs ${padding.paddedToM.usersPerSec} users/s; mean length ${padding.meanLength}, p50 ${padding.p50Length}, p90 ${padding.p90Length})`,
      met: padding.speedup >= 3,
      ratio: round(padding.speedup / 3),
      why:
        padding.speedup >= 3
          ? `padded tokens fall from ${padding.paddedToM.paddedTokens} to ${padding.bucketed.paddedTokens} (real ${padding.realTokens}); attention's L² term falls faster still.`
          : `the ceiling set by the data is about padded/real tokens = ${round(padding.paddedToM.paddedTokens / padding.realTokens)}× (a bit more for attention's L² term): ${padding.p90Length === padding.maxLength ? 'over 10% of the embedded users are at the cap M, and those cost the same either way' : 'the length distribution is not heavy-tailed enough'}.`,
    });
  }

  // Verdicts divide by the highest GEMM figure of the whole run (the tables show same-round fractions too).
  const peak = runGemmPeak(report.gemm.peakGflops, [demo, paper]);
  const ofRunPeak = (row: ContenderRow): number => (row.usersPerSec * row.flopsPerUser) / 1e9 / peak;
  const peakNote = `of the run's highest GEMM figure (${peak} GFLOP/s)`;
  if (demo) {
    const top = best(demo, (r) => isOrt(r) && accurate(r));
    if (top) {
      const f = ofRunPeak(top.row);
      out.push({
        name: 'demo model at length 256, fraction of the FLOP limit',
        target: '≥ 20% of the measured GEMM peak (accuracy: cosine ≥ 0.999 vs fp32)',
        measured: `${pct(f)} ${peakNote} with ${top.row.name} at batch ${top.batch} (${top.row.usersPerSec} users/s, cosine min ${top.row.cosineMin})`,
        met: f >= 0.2,
        ratio: round(f / 0.2),
        why:
          f >= 0.2
            ? `the exported graph's ONNX Attention op (causal) never materialises the [B, ${demo.shape.heads}, L, L] mask and scores the explicit graph writes and reads in several passes (its Where and Softmax took over half of its time), and flushing denormals keeps the masked softmax entries off the slow microcode path; the remaining time is width-${demo.shape.hidden} element-wise work (time encoding, LayerNorm, GELU) and small-K GEMMs.`
            : `at width ${demo.shape.hidden}, a layer does only ${round((6 * demo.shape.hidden) / 256, 2)}:1 projection:attention FLOPs but the attention and LayerNorm/GELU passes are memory-bound (each element of the [B, ${demo.shape.heads}, 256, 256] scores is written and read several times for ~${Math.round(demo.shape.hidden / demo.shape.heads)} FLOP), so the GEMM units idle most of the time; the GEMMs themselves are small (K = ${demo.shape.hidden}) and run far below peak.`,
      });
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
      out.push({
        name: 'paper size (6×768) at its best batch, fraction of the GEMM peak',
        target: '≥ 80% of the measured GEMM peak',
        measured: `fp32: ${pct(f)} ${peakNote} with ${fp32.row.name} at batch ${fp32.batch} (${fp32.row.usersPerSec} users/s, ${round(achieved, 3)} GFLOP/s)${Number.isFinite(ofOwn) ? `, ${pct(ofOwn)} of onnxruntime's best bare-MatMul figure (${ortGemmBest} GFLOP/s)` : ''}${int8 ? `; int8 ${int8.row.name} (cosine ${int8.row.cosineMin}, not judged): ${int8.row.usersPerSec} users/s = ${pct(ofRunPeak(int8.row))} in fp32-equivalent FLOP` : ''}`,
        met: f >= 0.8,
        ratio: round(f / 0.8),
        why:
          f >= 0.8
            ? 'at width 768 the GEMMs dominate (24·H·L vs 4·L² FLOP per layer) and run near the kernel peak.'
            : `the peak is set by MKL (torch.mm); onnxruntime's MLAS SGEMM reaches less on this CPU${gemm ? ` (${gemm.onnxruntime} vs ${gemm.torch} GFLOP/s in the same rounds)` : ''}, and the graph ${Number.isFinite(ofOwn) && ofOwn >= 0.8 ? 'already runs at its own MatMul peak' : 'also spends time in softmax over [B, 8, 256, 256], LayerNorm and GELU'}. The remaining gap is the GEMM library, not the graph.`,
      });
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
    out.push({
      name: 'embed stage: share of time in inference (demo model)',
      target: '≥ 70% of the embed stage',
      measured: `${steady.map(({ users, r }) => `${users} users: ${pct(r.inferShare)}${r.inferCpuShare === undefined ? '' : ` (${pct(r.inferCpuShare)} of its CPU)`}`).join(', ')}${bestBusy === undefined ? '' : `; pipelined (inference threads): lanes busy ${pct(bestBusy)} at ${pipe!.users} users, ${pipe!.meanEmbedSeconds.ratio}× the serial stage time`}`,
      met: worst.r.inferShare >= 0.7,
      ratio: round(worst.r.inferShare / 0.7),
      why:
        worst.r.inferShare >= 0.7
          ? 'inference dominates; read, merge, featurize, write and snapshot are small shares.'
          : `on these 2 cores the embed stage is CPU-bound, so its time follows its CPU: inference takes ${cpuShare === undefined ? 'well under half' : pct(cpuShare)} of the stage's CPU (the demo model costs only ~${round((report.inference.demo?.batches[0]?.flopsPerUser ?? 5.4e7) / 1e6)} MFLOP per full-length user), and its share of time (${pct(worst.r.inferShare)} at ${worst.users} users) is higher only because an inference thread also waits for a core.${topOthers ? `${largest ? ` At ${pipe!.users} users inference is still the largest single part of the CPU (the issue's first goal).` : ''} The rest of the CPU goes to ${topOthers} (section 2, CPU by component), where the embedded table's server is dynalite in this same process, which on AWS is DynamoDB's.` : ''} Overlap cannot fix a CPU-bound split: pipelining (inference threads, a second partition per worker; what the Batch container does beside its GPU) ${bestBusy === undefined ? 'raises the busy share' : `raised the lanes' busy share to ${pct(bestBusy)}`} but not the CPU share, at ${pipe ? `${pipe.meanEmbedSeconds.ratio}×` : 'no better'} the stage time, so the runner pipelines only with cores to spare. Reaching 70% here needs less CPU per user outside inference everywhere, not in one place${inferenceCpu > 0 ? `: even without the embedded table's server and every parquet read and write (the snapshots are re-read and re-encoded for every user of a partition, O(all users), while inference is O(active users)) inference would be ${pct(withoutLocalAndSnapshots)} of the CPU` : ''}.${paper ? ` At the paper's model size the same pipeline spends ${pct(paper.r.inferShare)} of the embed stage in inference (next row).` : ''}`,
    });
  }
  for (const { users, model, r } of paperSize) {
    out.push({
      name: `embed stage: share of time in inference (${model})`,
      target: '≥ 70% of the embed stage',
      measured: `${users} users, steady day: ${pct(r.inferShare)} (${r.embeddedUsers} embedded, ${r.embedUsersPerSec} users/s)`,
      met: r.inferShare >= 0.7,
      ratio: round(r.inferShare / 0.7),
      why:
        r.inferShare >= 0.7
          ? 'at the production model size inference dominates the embed stage: the same read, merge, write and snapshot work per user is small next to ~20 GFLOP per full-length user.'
          : 'even at this size I/O takes a large share: see the per-step split in section 2.',
    });
  }
  if (steady.length >= 2) {
    const a = steady[0]!;
    const b = steady[steady.length - 1]!;
    const exponent =
      Math.log((b.r.secondsByStage.embed ?? 0) / (a.r.secondsByStage.embed ?? 1)) /
      Math.log(b.r.embeddedUsers / a.r.embeddedUsers);
    out.push({
      name: 'embed-stage time grows linearly with embedded users',
      target: 'exponent ≤ 1.15 (time ∝ users^exponent)',
      measured: `exponent ${round(exponent, 3)} from ${a.r.embeddedUsers} to ${b.r.embeddedUsers} embedded users (${a.r.embedUsersPerSec} → ${b.r.embedUsersPerSec} users/s)`,
      met: exponent <= 1.15,
      ratio: round(1.15 / Math.max(exponent, 1e-9)),
      why:
        exponent <= 1.15
          ? 'per-user work is constant: the runner partitions by user hash and every partition is independent.'
          : 'a per-run cost grows faster than the users: look at the per-stage times (partition and publish are run-wide).',
    });
  }
  out.push(...writePolicyTargets(report.writePolicy), ...scaleTargets(report.scale));
  return out;
}
