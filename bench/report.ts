/** reports/bench.md: the figures of one benchmark run as tables, targets first. */

import { renderActiveCost } from './active-cost-report.ts';
import { SETTLE_MS } from './contest.ts';
import { renderGpuNode } from './gpu-node-report.ts';
import { type GpuResults, measuredRows } from './gpu-results.ts';
import type { ModelInferenceResult } from './inference.ts';
import type { LanesMeans } from './lanes.ts';
import { renderScale, renderWritePolicy } from './scale-report.ts';
import { pct as percent, round } from './stats.ts';
import { runGemmPeak } from './targets.ts';
import type { BenchReport } from './types.ts';

function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map((c) => String(c)).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const pct = (x: number | undefined): string => (x === undefined ? '' : percent(x));
const num = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '' : String(x));

function inferenceTable(result: ModelInferenceResult): string {
  const rows = result.batches.flatMap((b) => {
    const torch = b.contenders.find((c) => c.name === 'pytorch');
    return b.contenders.map((c) => [
      b.batch,
      c.name,
      c.error ? `failed: ${c.error.slice(0, 80)}` : c.usersPerSec,
      num(c.usersPerSecMedian),
      torch && c.usersPerSec ? `${(c.usersPerSec / torch.usersPerSec).toFixed(2)}×` : '',
      (c.flopsPerUser / 1e6).toFixed(1),
      b.gemmGflops
        ? `${pct(c.peakFraction)} of ${Math.max(b.gemmGflops.onnxruntime, b.gemmGflops.torch)}`
        : pct(c.peakFraction),
      num(c.cosineMin),
    ]);
  });
  return table(
    [
      'batch',
      'runtime / graph',
      'users/s (best)',
      'users/s (median)',
      'vs PyTorch',
      'MFLOP/user',
      'of GEMM peak (GFLOP/s, same rounds)',
      'cosine min vs fp32',
    ],
    rows,
  );
}

function opsLine(details: Record<string, { ops?: Record<string, number>; error?: string }>): string {
  return Object.entries(details)
    .map(([name, d]) =>
      d.error
        ? `- \`${name}\`: failed (${d.error.slice(0, 160)})`
        : `- \`${name}\`: ${Object.entries(d.ops ?? {})
            .map(([k, v]) => `${k}×${v}`)
            .join(', ')}`,
    )
    .join('\n');
}

export function renderMarkdown(r: BenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    '# Benchmark: PinnerFormer inference, daily run, writes, lookup',
    '',
    `Measured ${r.createdAt} by \`${r.command}\` in ${r.wallSeconds} s on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode}, ${m.threads} threads for onnxruntime and PyTorch. Load average at start ${m.loadAverageStart.join(' ')}, at end ${m.loadAverageEnd.join(' ')} (the machine is shared: compare figures measured side by side, i.e. ratios, rather than absolute values).`,
    '',
    r.settings.quick
      ? '**Quick mode: tiny sizes and single reps; these figures check the benchmark, not the system.**\n'
      : '',
    '![benchmark chart](bench.png)',
    '',
    '## Targets (issues 7 and 20)',
    '',
    table(
      ['target', 'goal', 'measured', 'verdict', 'why'],
      r.targets.map((t) => [
        t.name,
        t.target,
        t.measured,
        t.verdict === 'RETIRED'
          ? 'retired'
          : t.verdict === 'MET'
            ? 'MET'
            : `**MISS** (${(100 * t.ratio).toFixed(0)}% of goal)`,
        t.why,
      ]),
    ),
    '',
  );
  if (r.errors.length > 0) out.push('## Errors', '', ...r.errors.map((e) => `- ${e.split('\n')[0]}`), '');

  out.push(
    '## 1. Inference throughput',
    '',
    `GEMM peak of this CPU (fp32 2048³, ${m.threads} threads, best of reps), measured in every round of every contest below (the fractions use the peak of their own rounds, shown per batch), and alone at the start ${r.gemm.start?.onnxruntimeGflops ?? '-'} GFLOP/s onnxruntime / ${r.gemm.start?.torchGflops ?? '-'} torch.mm; end ${r.gemm.end?.onnxruntimeGflops ?? '-'} / ${r.gemm.end?.torchGflops ?? '-'}. Highest GEMM figure of the run, start, end and every round: ${runGemmPeak(r.gemm.peakGflops, [r.inference.demo, r.inference.paper])} GFLOP/s (the machine is shared, so each fraction below uses the peak measured in its own rounds, and the targets use this highest figure). FLOP per user are counted analytically from the config (bench/flops.ts: projections, full L×L attention, FFN, head at the last position); the demo model's FLOP-limit target instead counts causal attention as computed, leaving out the L(L-1)/2 masked query-key pairs, and judges fp32 graphs only (int8 shown beside it). Contenders run round robin on the same featurized batch (full-length sequences, L = 256), with a ${SETTLE_MS} ms pause before each run: PyTorch's OpenMP threads spin for a few ms after every forward and had been slowing whichever onnxruntime graph ran next by 10-25% on these 2 cores; best and median of the reps.`,
    '',
  );
  if (r.inference.demo) {
    const d = r.inference.demo;
    out.push(
      `### Demo model ${d.modelVersion} (${d.shape.layers}×${d.shape.hidden}, D ${d.shape.embedding}${d.trained ? ', trained models/demo' : ', random weights: models/demo was not there'}), ${(d.batches[0]?.flopsPerUser ?? 0) / 1e6} MFLOP/user at L=256`,
      '',
      inferenceTable(d),
      '',
      'Graph variants (operator counts after export):',
      '',
      opsLine(d.variants),
      '',
    );
  }
  if (r.inference.paper) {
    const p = r.inference.paper;
    out.push(
      `### Paper size ${p.modelVersion} (${p.shape.layers}×${p.shape.hidden}, D ${p.shape.embedding}, M ${p.shape.maxLength}, random weights), ${((p.batches[0]?.flopsPerUser ?? 0) / 1e9).toFixed(2)} GFLOP/user at L=256`,
      '',
      inferenceTable(p),
      '',
      opsLine(p.variants),
      '',
    );
  }
  if (r.inference.padding) {
    const p = r.inference.padding;
    out.push(
      '### Length bucketing vs padding to M',
      '',
      `${p.users} users embedded on the steady day of the smallest daily run (synthetic heavy-tailed lengths: mean ${p.meanLength}, median ${p.p50Length}, p90 ${p.p90Length}, max ${p.maxLength}); demo model, onnxruntime fp32, same session, inference only.`,
      '',
      table(
        ['plan', 'max users/batch', 'max tokens/batch', 'batches', 'padded tokens', 'seconds', 'users/s', 'vs padded'],
        p.plans.map((x) => [
          x.name,
          x.maxBatchSize,
          x.maxTokensPerBatch,
          x.batches,
          x.paddedTokens,
          x.seconds,
          x.usersPerSec,
          `${(p.paddedToM.seconds / x.seconds).toFixed(2)}×`,
        ]),
      ),
      '',
      `Real tokens ${p.realTokens}. Speed-up with the pipeline's default limits **${p.speedup}×**, best plan ${p.best.name} **${p.bestSpeedup}×**.`,
      '',
    );
  }

  out.push('## 2. The daily run end to end', '');
  if (r.daily.length > 0) {
    const order = ['read', 'merge', 'featurize', 'infer', 'wait', 'write', 'snapshot'];
    const steps = [...new Set(r.daily.flatMap((d) => d.runs.flatMap((x) => Object.keys(x.secondsByStep))))].sort(
      (a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99),
    );
    out.push(
      `Synthetic data (\`src/synth\`), ${r.daily[0]?.days} days of history; the second-to-last day bootstraps the sequence snapshot (every user with history is embedded), the last day is the steady state (active users only). Local runner: object store = directory, table = embedded dynalite, default workers and threads. Embed split: worker seconds summed over partitions (read, merge, featurize, infer, write, snapshot), infer share = infer / all of them; infer CPU share = the inference threads' CPU time (Linux, one onnxruntime thread per worker) / the whole process's CPU during the embed stage (every thread, the embedded table's included). The two differ because an inference thread also waits for a core while the table, the other worker and the writer side run on the same 2 cores.`,
      '',
      table(
        [
          'users',
          'model',
          'run',
          'events',
          'active',
          'embedded',
          'wall s',
          'partition s',
          'embed s',
          'publish s',
          'embedded users/s (embed stage)',
          'peak RSS MiB',
          ...steps.map((k) => `${k} s`),
          'infer share',
          'infer CPU share',
        ],
        r.daily.flatMap((d) =>
          d.runs.map((x) => [
            d.users,
            `${d.model} ${d.modelVersion}`,
            `${x.role} ${x.date}`,
            x.events,
            x.activeUsers,
            x.embeddedUsers,
            x.wallSeconds,
            num(x.secondsByStage.partition),
            num(x.secondsByStage.embed),
            num(x.secondsByStage.publish),
            x.embedUsersPerSec,
            x.peakRssMiB,
            ...steps.map((k) => num(x.secondsByStep[k])),
            pct(x.inferShare),
            x.inferCpuShare === undefined ? '-' : pct(x.inferCpuShare),
          ]),
        ),
      ),
      '',
      `Generation: ${r.daily
        .filter((d) => d.model === 'shipped')
        .map((d) => `${d.users} users ${d.generatedEvents} events in ${d.generateSeconds}s`)
        .join('; ')}.`,
      '',
    );
  } else {
    out.push('(not run)', '');
  }

  out.push(...pipeliningSection(r.pipelining));
  out.push(...lanesSection(r.lanes));

  out.push('## 3. Write cost', '');
  if (r.writeCost.items.length > 0) {
    out.push(
      table(
        ['dims', 'dtype', 'bytes/item', 'write units/item', 'BatchWriteItem requests per 1k users'],
        r.writeCost.items.map((i) => [i.dims, i.dtype, i.bytesPerItem, i.writeUnitsPerItem, i.requestsPer1k]),
      ),
      '',
      `From the daily runs: ${r.writeCost.fromDailyRuns.map((d) => `${d.users} users: ${d.requestsPer1kUsers} requests/1k embedded (${d.retries} retries)`).join('; ')}.`,
      '',
    );
  }
  if (r.projection) {
    const a = r.projection.assumptions as Record<string, unknown>;
    out.push(
      '### Projected AWS cost',
      '',
      `Model: ${a.model}, ${((a.flopsPerUser as number) / 1e9).toFixed(2)} GFLOP/user. GPU: ${a.gpu}. Share of the A10G's peak assumed: ${r.projection.rows
        .filter((c) => c.dailyActiveUsers === r.projection?.rows[0]?.dailyActiveUsers)
        .map(
          (c) =>
            `${c.precision} ${pct(c.efficiency)} (measured on ${c.efficiencyFrom === 'gpu' ? 'the GPU' : 'this CPU'})`,
        )
        .join(
          ', ',
        )}. Writes: ${a.writeUnitsPerUser} WRU/user (float16, ${a.bytesPerItem} B/item)${a.writeSkipShare === undefined ? '' : `, ${pct(a.writeSkipShare as number)} of embedded users not written (the write policy at its default threshold, section 6; runs apply it with --write-skip-cosine)`}. ${a.note}.${a.cpuNote ? ` CPU side: ${a.cpuNote}; a container is billed for whichever takes longer, its GPU's time or its lanes' CPU work (column "limited by"), and each row takes the cheapest g5 size, one lane per 4 vCPUs (src/contract/run-contract.ts; the stack's partitionsPerJob, default 2).` : ''}`,
      '',
      `List prices (USD, us-east-1, on-demand): ${Object.entries(a.prices as Record<string, number>)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}.`,
      '',
      table(
        [
          'DAU',
          'precision',
          'container (lanes)',
          'GPU-bound h/day',
          'CPU-bound h/day',
          'limited by',
          'instance h/day',
          'GPU $/day',
          'DynamoDB writes $/day',
          'DynamoDB storage $/day',
          'S3 $/day',
          'total $/day',
          'total $/month',
        ],
        r.projection.rows.map((c) => [
          c.dailyActiveUsers.toExponential(0),
          c.precision,
          c.instance ? `${c.instance} (${c.partitionsPerJob})` : 'g5.xlarge (1)',
          c.gpuBoundHoursPerDay ?? c.gpuHoursPerDay,
          c.cpuBoundHoursPerDay ?? '-',
          c.limitedBy ?? 'gpu',
          c.gpuHoursPerDay,
          c.usdPerDay.gpu,
          c.usdPerDay.dynamoWrites,
          c.usdPerDay.dynamoStorage,
          c.usdPerDay.s3,
          c.usdPerDay.total,
          c.usdPerMonth,
        ]),
      ),
      '',
    );
    const firstDau = r.projection.rows[0]?.dailyActiveUsers;
    const shapes = r.projection.rows.filter((c) => c.byShape && c.dailyActiveUsers === firstDau);
    if (shapes.length > 0) {
      out.push(
        `Instance cost a day by container shape at ${shapes[0]!.dailyActiveUsers.toExponential(0)} DAU (one A10G each; lanes = partitions a Batch child embeds at once, \`partitionsPerJob\`):`,
        '',
        table(
          ['precision', 'container', 'lanes', 'CPU-bound h/day', 'limited by', 'instance h/day', '$/day', 'vs 1 lane'],
          shapes.flatMap((c) =>
            c.byShape!.map((shape) => [
              c.precision,
              shape.instance,
              shape.partitionsPerJob,
              shape.cpuBoundHoursPerDay ?? '-',
              shape.limitedBy,
              shape.hoursPerDay,
              shape.usdPerDay,
              `${round(shape.usdPerDay / c.byShape![0]!.usdPerDay, 2)}×`,
            ]),
          ),
        ),
        '',
      );
    }
  }

  out.push('## 4. Lookup over HTTP (loopback)', '');
  if (r.lookup.length > 0) {
    out.push(
      "src/lookup/http-server.ts in its own process against the smallest run's embedded table; autocannon with a fixed number of connections (bounded load).",
      '',
      table(
        [
          'request',
          'connections',
          'seconds',
          'requests',
          'req/s',
          'users/s',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'max ms',
          'non-2xx',
          'errors',
        ],
        r.lookup.map((l) => [
          l.kind,
          l.connections,
          l.seconds,
          l.requests,
          l.requestsPerSec,
          l.usersPerSec,
          l.p50Ms,
          l.p90Ms,
          l.p99Ms,
          l.maxMs,
          l.non2xx,
          l.errors,
        ]),
      ),
      '',
    );
  } else {
    out.push('(not run)', '');
  }
  out.push(
    ...renderGpu(r.gpu),
    ...renderWritePolicy(r.writePolicy),
    ...renderScale(r.scale),
    ...renderActiveCost(r.activeCost),
  );
  return `${out.filter((l) => l !== undefined).join('\n')}\n`;
}

/** Section 5 from the last GPU session's files (bench/gpu.sh); what it could not measure is said. */
function renderGpu(gpu: GpuResults | undefined): string[] {
  const out = ['## 5. GPU (bench/gpu.sh)', ''];
  if (!gpu) {
    out.push(
      "`bench/gpu.sh` measures the paper-size model on a GPU (PyTorch fp32/TF32/bf16/fp16 and onnxruntime's CUDA EP where installed, against the GPU's measured matrix-product rate), checks training on CUDA, and writes reports/bench-gpu*.json. No results are in the --gpu folder.",
      '',
    );
    return out;
  }
  const b = gpu.bench;
  const gemm = Object.entries(b.measuredGemmTflops)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  out.push(
    `${b.gpu}, ${b.createdAt}; torch ${b.torch}, onnxruntime ${b.onnxruntime}. Model: ${b.model}, ${(b.flopsPerUser / 1e9).toFixed(2)} GFLOP/user (the count of bench/flops.ts). ${b.note}.`,
    '',
    `Matrix-product rate measured in the same run (8192³, random data, the higher of a probe before and after the model runs), TFLOP/s: ${gemm}. Datasheet (dense): fp32 ${b.peakTflops.fp32}, TF32 ${b.peakTflops.tf32 ?? 'not stated'}, fp16/bf16 ${b.peakTflops.fp16}.`,
    '',
    b.onnxruntimeCuda.available
      ? `onnxruntime's CUDA EP ran; CPU fallback per graph: ${Object.entries(b.cpuFallback)
          .map(([k, v]) => `${k}: ${v}`)
          .join('; ')}.`
      : `**onnxruntime's CUDA EP was not measured** from Python: ${b.onnxruntimeCuda.reason ?? 'unavailable'} (providers: ${b.onnxruntimeCuda.providers.join(', ')}). The PyTorch rows stand in for it.`,
    '',
    table(
      [
        'batch',
        'contender',
        'users/s',
        'TFLOP/s',
        '% of measured GEMM',
        '% of datasheet',
        'GPU GiB',
        'min cosine vs fp32',
      ],
      b.rows.map((row) =>
        'error' in row
          ? [row.batch, row.contender, `error: ${row.error.slice(0, 80)}`, '', '', '', '', '']
          : [
              row.batch,
              row.contender,
              Math.round(row.usersPerSec),
              row.tflops.toFixed(1),
              pct(row.measuredGemmFraction ?? undefined),
              pct(row.peakFraction ?? undefined),
              row.gpuMemoryGiB === null ? '' : row.gpuMemoryGiB.toFixed(1),
              row.cosineMinVsPytorchFp32 === null ? '' : row.cosineMinVsPytorchFp32.toFixed(5),
            ],
      ),
    ),
    '',
    ...renderGpuNode(gpu, gpu.node),
  );
  const rows = measuredRows(gpu);
  const bestOf = (name: string) =>
    rows.filter((row) => row.contender === name).reduce((a, row) => Math.max(a, row.usersPerSec), 0);
  const fp32 = bestOf('pytorch-fp32');
  const half = Math.max(bestOf('pytorch-bf16-autocast'), bestOf('pytorch-fp16-autocast'));
  if (fp32 > 0 && half > 0) {
    out.push(
      `Best full-length throughput: fp32 ${Math.round(fp32)} users/s, bf16/fp16 ${Math.round(half)} users/s (${(half / fp32).toFixed(1)}×)${bestOf('pytorch-bf16-compiled') > 0 ? `, torch.compile bf16 ${Math.round(bestOf('pytorch-bf16-compiled'))} users/s` : ''}. Chart: reports/bench-gpu.png.`,
      '',
    );
  }
  if (b.bucketing) {
    const rowsOf = b.bucketing.rows;
    const padded = (precision: string) =>
      rowsOf.find((x) => x.precision === precision && x.plan.startsWith('padded'))?.usersPerSec;
    out.push(
      `Length bucketing on the GPU: ${b.bucketing.note}; ${rowsOf[0]?.users ?? 0} users, mean length ${b.bucketing.meanLength.toFixed(1)}.`,
      '',
      table(
        [
          'batch plan (users / positions)',
          'precision',
          'batches',
          'padded / real positions',
          'users/s',
          'vs padded to M',
        ],
        rowsOf.map((x) => [
          x.plan,
          x.precision,
          x.batches,
          (x.paddedTokens / x.realTokens).toFixed(2),
          Math.round(x.usersPerSec),
          padded(x.precision) ? `${(x.usersPerSec / (padded(x.precision) as number)).toFixed(2)}×` : '',
        ]),
      ),
      '',
    );
  }
  if (gpu.train) {
    const t = gpu.train;
    out.push(
      `Training on CUDA (bf16 autocast): the ablation's ${t.name} configuration, ${t.steps} steps, trained in ${t.train_seconds} s; Recall@10 ${t.recall_at_10.toFixed(4)} ± ${t.recall_at_10_stderr.toFixed(4)} (reports/ablation.md has the CPU run of the same configuration).`,
      '',
    );
  }
  if (gpu.paperTraining) {
    const m = gpu.paperTraining;
    out.push(
      `Paper-size training on CUDA: ${m.training.steps} steps of ${m.training.batch_size} sequences in ${m.training.seconds} s, then exported as ${m.modelVersion} (${Object.values(m.files).join(', ')}), a check that training, evaluation and export run at that size on the GPU (100 steps do not train a useful model).`,
      '',
    );
  }
  return out;
}

function lanesMeans(label: string, m: LanesMeans): string {
  return `${label}: serial ${m.serial} s, lanes ${m.lanes} s (serial / lanes ${m.speedup}×); lanes used ${m.extraCpuSeconds} CPU s more than serial.`;
}

/** Section 2, continued: a Batch child's partitions one after another vs at once on lanes. */
function lanesSection(l: BenchReport['lanes']): string[] {
  if (!l) return [];
  const perUser = (cpu: number) => round((1000 * cpu) / Math.max(1, l.embeddedUsers), 3);
  return [
    "### A Batch child's lanes",
    '',
    `The Batch container's entry (batch-container/worker.ts \`runWorker\`, CPU provider) embeds partitions ${l.partitions.join(', ')} of the ${l.users}-user steady day (${l.date}, ${l.embeddedUsers} users embedded), each run into a fresh in-memory table, alternating: **serial** = one child per partition, one after another (a partition in the calling thread, onnxruntime on all ${l.cores} cores, writer thread), **lanes** = one child embedding them at once (\`PARTITIONS_PER_JOB\`; a stage thread per partition with its own session, ${Math.max(1, Math.floor(l.cores / l.partitions.length))} onnxruntime thread(s) and writer thread). Each shape starts two ways: **bundle** = one ES module per entry and per thread (bin/build.ts), as the container's image and \`make demo\` run them; **tsx** = from the TypeScript sources through tsx, as the container ran before it was bundled. Seconds and CPU are the whole process's from its start (module loading and the lanes' start-up included).`,
    '',
    table(
      ['start', 'shape', 'seconds', 'CPU s', 'CPU ms per embedded user', 'peak RSS MiB'],
      l.rounds.map((r) => [r.start, r.shape, r.seconds, r.cpuSeconds, perUser(r.cpuSeconds), r.peakRssMiB]),
    ),
    '',
    lanesMeans('Bundled', l.meanSeconds),
    '',
    lanesMeans('From the sources (tsx)', l.fromSources),
    '',
    `Here inference is CPU work and both shapes already use every core, so lanes cannot be faster; what this run shows is their price: each lane starts a worker thread and a writer thread and loads its own session and item table (the serial shape's one process loads them once for both partitions; one-partition children each load them too), and partitions that share cores run slower each. Under tsx every thread transpiles and loads the sources again (about 2 CPU seconds a thread here), which is most of what lanes cost from the sources; bundled, a thread starts in a few hundred CPU milliseconds. On a GPU instance the lanes run a child's CPU work on the cores the one-partition child left idle (4 vCPUs per lane, src/contract/run-contract.ts); the cost projection (section 3) prices that, and a Batch child's production partitions (hundreds of thousands of users) make the start-up negligible. The GPU case itself is unmeasured (no GPU with onnxruntime's CUDA libraries was available).`,
    '',
  ];
}

/** Section 2, continued: serial vs pipelined embed stage, and where its CPU goes. */
function pipeliningSection(p: BenchReport['pipelining']): string[] {
  if (!p) return [];
  const out = [
    "### Pipelining, and where the embed stage's CPU goes",
    '',
    `The ${p.users}-user steady day (${p.date}, ${p.embeddedUsers} users embedded) rerun side by side, alternating: **serial** (each worker embeds one partition at a time and runs session.run itself) and **pipelined** (each worker's session runs on an inference thread; the worker featurizes the next batch and writes the last while a batch runs, and a second partition reads and merges meanwhile). Busy share = wall time of session.run / (embed-stage wall × lanes); a run waiting for a core counts as busy. CPU share = inference threads' CPU / the process's CPU in the embed stage.`,
    '',
    table(
      ['mode', 'embed s', 'lanes', 'busy share', 'inference CPU s', 'stage CPU s', 'CPU share', 'peak RSS MiB'],
      p.rounds.map((r) => [
        r.mode,
        r.embedSeconds,
        r.inference.lanes,
        pct(r.inference.busyShare),
        r.inference.cpuSeconds ?? '-',
        r.inference.stageCpuSeconds,
        r.inference.cpuShare === undefined ? '-' : pct(r.inference.cpuShare),
        r.peakRssMiB,
      ]),
    ),
    '',
    `Mean embed stage: serial ${p.meanEmbedSeconds.serial} s, pipelined ${p.meanEmbedSeconds.pipelined} s (pipelined / serial ${p.meanEmbedSeconds.ratio}×). On these 2 cores every core already runs inference or I/O, so overlap cannot shorten the stage: pipelining raises the busy share but not the CPU share, and adds threads that contend. The runner therefore pipelines only where cores are to spare or a GPU runs inference (\`localOverlap\`, src/pipeline/overlap.ts); the Batch container's CUDA path always does.`,
    '',
  ];
  if (p.profile) {
    const total = p.profile.stageCpuSeconds;
    const rows = Object.entries(p.profile.cpuSecondsByComponent).sort((a, b) => b[1] - a[1]);
    out.push(
      `Embed-stage CPU by component (${p.profile.mode} run under \`--cpu-prof\`, ${total} CPU s in all; inference measured from its threads' CPU time, the rest of the process's CPU split in proportion to the profile's samples outside inference; bench/cpu-profile.ts):`,
      '',
      table(
        ['component', 'CPU s', 'share', 'ms per embedded user'],
        rows.map(([k, v]) => [k, v, pct(v / total), round((1000 * v) / Math.max(1, p.embeddedUsers))]),
      ),
      '',
    );
  }
  return out;
}
