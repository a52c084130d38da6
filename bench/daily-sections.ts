/**
 * Section 2 and what reruns its data: the daily run at each size (bench/daily.ts), pipelining and
 * a Batch child's lanes on one size's steady day (2c, 2d), the smallest run's embedded users (for
 * the padding contest and the lookup), the lookup against its table (4), and a small day with a
 * paper-size model (2b).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { SequenceEvent } from '../src/features/sequence.ts';
import { benchDailySize, type DailySizeResult, embeddedSequences } from './daily.ts';
import { benchLanes, type LanesResult } from './lanes.ts';
import { benchLookup, type LookupFigures } from './lookup.ts';
import type { Measure } from './measure.ts';
import { PAPER_SIZE, randomModelDir } from './models.ts';
import { benchPipelining, type PipeliningResult } from './pipelining.ts';
import type { BenchSettings, Section } from './settings.ts';

/** What every daily section needs: where to work, which model, and how to record a failure. */
export interface DailyContext {
  readonly work: string;
  readonly settings: BenchSettings;
  readonly skip: ReadonlySet<Section>;
  readonly demo: { readonly dir: string; readonly modelVersion: string; readonly itemVector: number };
  readonly measure: Measure;
}

type DayRun = DailySizeResult['runs'][number];

export interface DailyFigures {
  /** One entry per daily size, then the paper-size day. */
  readonly daily: DailySizeResult[];
  readonly pipelining?: PipeliningResult;
  readonly lanes?: LanesResult;
  /** The smallest size of the shipped model and its steady day. */
  readonly smallest?: DailySizeResult;
  readonly steady?: DayRun;
  /** Up to `paddingUsers` of the steady day's embedded users, with their sequences. */
  readonly embedded: { userId: string; events: SequenceEvent[] }[];
  readonly lookup: LookupFigures[];
}

/** Section 2: a daily run per size (each first generates its data, cached in the work folder). */
async function dailyRuns(ctx: DailyContext): Promise<DailySizeResult[]> {
  const daily: DailySizeResult[] = [];
  if (ctx.skip.has('daily')) return daily;
  for (const users of ctx.settings.dailySizes) {
    const result = await ctx.measure(`daily ${users}`, () =>
      benchDailySize({ workDir: ctx.work, modelDir: ctx.demo.dir, users, days: ctx.settings.days, seed: 7 }),
    );
    if (result) daily.push(result);
  }
  return daily;
}

/** 2c and 2d: pipelining side by side, CPU by component, and lanes, on one steady day (100k users, or the largest below). */
async function steadyDayReruns(
  ctx: DailyContext,
  daily: readonly DailySizeResult[],
): Promise<{ pipelining?: PipeliningResult; lanes?: LanesResult }> {
  const compared = [...daily].filter((d) => d.users <= 100_000).pop();
  const comparedDay = compared?.runs.find((r) => r.role === 'steady');
  if (!compared || !comparedDay) return {};
  // the steady day both reruns use, already run by section 2
  const rerun = {
    dataDir: join(ctx.work, `daily-${compared.users}`),
    users: compared.users,
    date: comparedDay.date,
    rounds: ctx.settings.quick ? 1 : 2,
  };
  const pipelining = ctx.skip.has('pipelining')
    ? undefined
    : await ctx.measure('pipelining', () => benchPipelining({ ...rerun, modelDir: ctx.demo.dir }));
  const lanes = ctx.skip.has('lanes')
    ? undefined
    : await ctx.measure('lanes', () =>
        benchLanes({ ...rerun, modelVersion: ctx.demo.modelVersion, cores: availableParallelism() }),
      );
  return { ...(pipelining ? { pipelining } : {}), ...(lanes ? { lanes } : {}) };
}

/** Section 4: lookups against the smallest run's table. */
async function lookupSection(
  ctx: DailyContext,
  smallest: DailySizeResult | undefined,
  embedded: readonly { userId: string }[],
): Promise<LookupFigures[]> {
  if (ctx.skip.has('lookup') || !smallest || embedded.length === 0) return [];
  const figures = await ctx.measure('lookup', () =>
    benchLookup({
      dataDir: join(ctx.work, `daily-${smallest.users}`),
      userIds: embedded.map((u) => u.userId),
      connections: ctx.settings.lookupConnections,
      seconds: ctx.settings.lookupSeconds,
    }),
  );
  return figures ?? [];
}

/** 2b: a small day with a paper-size model: the embed stage's split at the production model size. */
async function paperDaily(ctx: DailyContext): Promise<DailySizeResult | undefined> {
  if (ctx.skip.has('daily') || ctx.skip.has('paper-daily')) return undefined;
  return ctx.measure('daily paper size', async () => {
    // the paper's trunk (6 × 768, D 256) over the synthetic data's item vectors
    const size = { ...PAPER_SIZE, itemVector: ctx.demo.itemVector };
    const paperModel = await randomModelDir(join(ctx.work, `paper-6x768-ev${size.itemVector}`), size);
    return benchDailySize({
      workDir: ctx.work,
      modelDir: paperModel.dir,
      modelLabel: 'paper size 6×768 (random weights)',
      users: ctx.settings.paperDailyUsers,
      days: ctx.settings.days,
      seed: 7,
    });
  });
}

/** Sections 2, 2b-2d and 4, in the order their data needs (section 2 first: it makes the data). */
export async function dailySections(ctx: DailyContext): Promise<DailyFigures> {
  const daily = await dailyRuns(ctx);
  const reruns = await steadyDayReruns(ctx, daily);
  const smallest = daily[0];
  const steady = smallest?.runs.find((r) => r.role === 'steady');
  const embedded =
    smallest && steady
      ? await embeddedSequences(ctx.work, smallest.users, ctx.demo.modelVersion, steady.date, ctx.settings.paddingUsers)
      : [];
  const lookup = await lookupSection(ctx, smallest, embedded);
  const paper = await paperDaily(ctx);
  if (paper) daily.push(paper);
  return {
    daily,
    ...reruns,
    ...(smallest ? { smallest } : {}),
    ...(steady ? { steady } : {}),
    embedded,
    lookup,
  };
}
