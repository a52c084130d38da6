import type { Command } from 'commander';
import { z } from 'zod';
import { COMPACT_DELTA_SHARE, COMPACT_EVERY_DAYS, PARTITIONS, REFRESH_AGE_DAYS } from '../contract/run-contract.ts';
import { runDaily } from '../pipeline/local-runner.ts';
import { PLAN_DEFAULTS, planOptionsOf } from '../pipeline/plan.ts';
import type { DailySummary, EmbedStageInference } from '../pipeline/types.ts';
import { checkDataDir, dataDirFlag, dateString, intString, parseFlags } from './local-env.ts';

/** Env var a deployment sets to require `events/dt=D/_SUCCESS` before a day runs (same as --require-marker). */
export const REQUIRE_MARKER_ENV = 'PINNERFORMER_REQUIRE_MARKER';

const dailyFlags = z.object({
  date: dateString,
  model: z.string().min(1).default('models/demo'),
  backfill: z.boolean().default(false),
  json: z.boolean().default(false),
  data: dataDirFlag,
  partitions: intString(PARTITIONS.min, PARTITIONS.max).optional(),
  workers: intString(1, 64).optional(),
  threads: intString(1, 256).optional(),
  refreshAgeDays: intString(REFRESH_AGE_DAYS.min, REFRESH_AGE_DAYS.max).optional(),
  writeSkipCosine: z.coerce.number().gt(0).lte(1).optional(),
  compactEveryDays: intString(COMPACT_EVERY_DAYS.min, COMPACT_EVERY_DAYS.max).optional(),
  compactDeltaShare: z.coerce.number().gt(0).lte(COMPACT_DELTA_SHARE.max).optional(),
  provider: z.enum(['cpu', 'cuda']).default('cpu'),
  dtype: z.enum(['float16', 'float32']).default('float16'),
  pipelining: z.enum(['auto', 'on', 'off']).default('auto'),
  replayFrom: dateString.optional(),
  requireMarker: z.boolean().default(false),
});

/** The JSON `daily --json` prints: exactly these keys first, then the extras. */
export function summaryJson(s: DailySummary): Record<string, unknown> {
  return {
    date: s.date,
    modelVersion: s.modelVersion,
    version: s.version,
    partitions: s.partitions,
    events: s.events,
    invalidEvents: s.invalidEvents,
    activeUsers: s.activeUsers,
    embeddedUsers: s.embeddedUsers,
    published: s.published,
    secondsByStage: s.secondsByStage,
    reasons: s.reasons,
    secondsByStep: s.secondsByStep,
    writeStats: s.writeStats,
    ...(s.inference ? { inference: s.inference } : {}),
    ...(s.unknownItemShare === undefined ? {} : { unknownItemShare: s.unknownItemShare }),
    ...(s.attempt === undefined ? {} : { attempt: s.attempt }),
    ...(s.ignoredFiles ? { ignoredFiles: s.ignoredFiles } : {}),
    ...(s.inputChanges ? { inputChanges: s.inputChanges, replay: s.replay } : {}),
  };
}

/** Lines naming the ignored files (counted per reason) and the input that changed since it was used. */
function inputLines(s: DailySummary): string[] {
  const lines: string[] = [];
  if (s.ignoredFiles?.length) {
    const counts = new Map<string, number>();
    for (const f of s.ignoredFiles) counts.set(f.reason, (counts.get(f.reason) ?? 0) + 1);
    lines.push(
      `  ignored ${s.ignoredFiles.length} file${s.ignoredFiles.length === 1 ? '' : 's'} (${[...counts].map(([r, n]) => `${r} ${n}`).join(', ')}): ` +
        s.ignoredFiles.map((f) => f.key).join(', '),
    );
  }
  if (s.inputChanges?.length) {
    lines.push(
      `  input changed after it was used (not in this run): ${s.inputChanges.map((c) => `dt=${c.day} ${c.kind}`).join(', ')}`,
      `  replay it: ${s.replay}`,
    );
  }
  return lines;
}

function inferenceLine(i: EmbedStageInference): string {
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  return (
    `${i.lanes} lane${i.lanes === 1 ? '' : 's'}${i.pipelined ? ' (pipelined)' : ''} busy ${pct(i.busyShare)} of the embed stage` +
    (i.cpuShare === undefined ? '' : `, ${pct(i.cpuShare)} of its CPU`)
  );
}

export function formatSummary(s: DailySummary): string {
  const stages = Object.entries(s.secondsByStage)
    .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
    .join(', ');
  const steps = Object.entries(s.secondsByStep)
    .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
    .join(', ');
  return [
    `daily run ${s.version}${s.attempt === undefined ? '' : ` (attempt ${s.attempt})`}: ${s.published ? 'PUBLISHED' : 'NOT PUBLISHED'}`,
    `  events ${s.events} (invalid ${s.invalidEvents}), partitions ${s.partitions}` +
      (s.unknownItemShare === undefined ? '' : `, ${(100 * s.unknownItemShare).toFixed(1)}% with unknown items`),
    `  users active ${s.activeUsers}, embedded ${s.embeddedUsers}; writes ${s.writeStats.items} items in ${s.writeStats.requests} requests (${s.writeStats.retries} retries)`,
    `  time: ${stages}`,
    `  embed steps (summed over partitions): ${steps}`,
    ...(s.inference ? [`  inference: ${inferenceLine(s.inference)}`] : []),
    ...inputLines(s),
    ...s.reasons.map((r) => `  refused: ${r}`),
  ].join('\n');
}

/** `pinnerformer daily`: the daily run on the embedded default (docs/pipeline.md). */
export function registerDaily(program: Command): void {
  program
    .command('daily')
    .description('Run the daily embedding job for one date on the embedded default (local dir + dynalite)')
    .requiredOption('--date <YYYY-MM-DD>', 'run date (UTC)')
    .option('--model <dir>', 'model directory to deploy and use', 'models/demo')
    .option('--backfill', 're-embed every user with a sequence')
    .option('--json', 'print one JSON summary on stdout')
    .option('--data <dir>', 'data directory', './.pinnerformer')
    .option('--partitions <n>', `partition count P (default ${PARTITIONS.default})`)
    .option('--workers <n>', 'worker threads (default min(2, cores))')
    .option('--threads <n>', 'onnxruntime threads per worker')
    .option(
      '--refresh-age-days <n>',
      `re-embed users whose embedding is this old (default ${PLAN_DEFAULTS.refreshAgeDays})`,
    )
    .option(
      '--write-skip-cosine <c>',
      'skip the table write of users whose stored embedding is within this cosine of the new one (default: write all)',
    )
    .option(
      '--compact-every-days <n>',
      `write a full snapshot per partition at least every n days (staggered), deltas of the changed users between (default ${COMPACT_EVERY_DAYS.default}; 1: full daily)`,
    )
    .option(
      '--compact-delta-share <s>',
      `compact a partition sooner when its deltas exceed this share of its base's bytes (default ${COMPACT_DELTA_SHARE.default})`,
    )
    .option('--provider <cpu|cuda>', 'onnxruntime execution provider', 'cpu')
    .option('--dtype <float16|float32>', 'storage dtype of the embeddings in the table', 'float16')
    .option(
      '--pipelining <auto|on|off>',
      'inference threads and a second partition per worker (auto: only with cores to spare or on CUDA)',
      'auto',
    )
    .option(
      '--replay-from <YYYY-MM-DD>',
      'rebuild sequences from the published state before this day (input that changed or arrived late)',
    )
    .option(
      '--require-marker',
      `refuse a day whose events/dt=D/ has no _SUCCESS marker yet (also ${REQUIRE_MARKER_ENV}=1)`,
    )
    .action(async (raw) => {
      const flags = parseFlags(dailyFlags, raw);
      checkDataDir(flags.data, true);
      const requireMarker = flags.requireMarker || process.env[REQUIRE_MARKER_ENV] === '1';
      const summary = await runDaily({
        dataDir: flags.data,
        date: flags.date,
        modelDir: flags.model,
        backfill: flags.backfill,
        executionProvider: flags.provider,
        dtype: flags.dtype,
        ...planOptionsOf({ ...flags, requireMarker }),
        ...(flags.workers === undefined ? {} : { workers: flags.workers }),
        ...(flags.threads === undefined ? {} : { threads: flags.threads }),
        ...(flags.pipelining === 'auto' ? {} : { pipelined: flags.pipelining === 'on' }),
        log: (message) => process.stderr.write(`[daily ${flags.date}] ${message}\n`),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(summaryJson(summary))}\n` : `${formatSummary(summary)}\n`);
      if (!summary.published) process.exitCode = 1;
    });
}
