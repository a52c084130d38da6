/**
 * `generateDataset`: the synthetic activity data set (docs/data.md, "Synthetic data").
 *
 * Users are processed in chunks of `chunkUsers`; within a chunk, day by day, so memory holds one
 * chunk's user state and one day's events of that chunk. Each (chunk, day) becomes one file
 * `events/dt=D/part-CCCCC.parquet`. Every random draw of a user comes from that user's own
 * seeded stream, so the same seed gives byte-identical files.
 */
import { z } from 'zod';
import { runDateSchema } from '../contract/messages.ts';
import { parseWith } from '../contract/run-contract.ts';
import { encodeItems } from '../events/items.ts';
import { addDays, DAY_MS, DEFAULT_ITEM_VECTOR_DIM, dayStartMs, eventDayPrefix } from '../events/schema.ts';
import { directorySink, encodeEvents, type FileSink } from '../events/write-events.ts';
import { encodeParquet } from '../io/parquet.ts';
import { ValidationError } from '../util/errors.ts';
import { Rng } from './rng.ts';
import { EventBuffer, generateUserDay } from './sessions.ts';
import { MAX_INTERESTS, UserChunk } from './users.ts';
import { World } from './world.ts';

export const generateOptionsSchema = z.object({
  users: z.number().int().min(1).max(100_000_000),
  days: z.number().int().min(1).max(3660),
  seed: z.number().int().min(0).max(0xffffffff).default(0),
  /** First day (UTC); default 2026-01-01. */
  start: runDateSchema.default('2026-01-01'),
  /** Item count; default clamp(users / 2, 1000, 200000). */
  items: z.number().int().min(1).optional(),
  /** Latent topics; default clamp(round(sqrt(items) / 2), 8, 256). */
  topics: z.number().int().min(1).optional(),
  subclusters: z.number().int().min(1).default(8),
  vectorDim: z.number().int().min(1).max(4096).default(DEFAULT_ITEM_VECTOR_DIM),
  chunkUsers: z.number().int().min(1).default(50_000),
  activeRate: z.number().min(0).max(1).default(0.36),
  newUserRate: z.number().min(0).max(1).default(0.25),
  churnRate: z.number().min(0).max(1).default(0.2),
  interestSwitchRate: z
    .number()
    .min(0)
    .max(1)
    .default(1 / 40),
  exploreRate: z.number().min(0).max(1).default(0.2),
  subclusterFocus: z.number().min(0).max(1).default(0.6),
  zipfExponent: z.number().min(0).default(0.9),
  topicZipfExponent: z.number().min(0).default(0.5),
});
export type GenerateOptions = z.input<typeof generateOptionsSchema> & {
  /** Output directory (files go under it), unless `sink` is given. */
  readonly out?: string;
  /** Where files go (e.g. an ObjectStore's put); overrides `out`. */
  readonly sink?: FileSink;
  /** Progress lines (the CLI passes stderr). */
  readonly onProgress?: (message: string) => void;
};

export interface GenerateSummary {
  readonly users: number;
  readonly items: number;
  readonly topics: number;
  readonly days: number;
  readonly start: string;
  readonly end: string;
  readonly events: number;
  readonly eventsByDay: Readonly<Record<string, number>>;
  readonly activeUserDays: number;
  readonly files: number;
  readonly bytes: number;
  readonly seconds: number;
}

/** Validated options: the start is a real day, and there is somewhere to write. */
function parseOptions(options: GenerateOptions): z.output<typeof generateOptionsSchema> {
  const o = parseWith(generateOptionsSchema, options, 'generate options');
  try {
    dayStartMs(o.start);
  } catch {
    throw new ValidationError(`invalid start date ${o.start}`);
  }
  if (!options.sink && !options.out) throw new ValidationError('generateDataset needs `out` or `sink`');
  return o;
}

/** The item world (topics, popularity, vectors), written as the item table and its ground truth. */
async function writeWorld(o: z.output<typeof generateOptionsSchema>, sink: FileSink): Promise<World> {
  const items = o.items ?? Math.min(200_000, Math.max(1000, Math.round(o.users / 2)));
  const topics = o.topics ?? Math.min(256, Math.max(8, Math.round(Math.sqrt(items) / 2)));
  if (topics > items) throw new ValidationError(`topics (${topics}) must not exceed items (${items})`);
  const world = new World({
    seed: o.seed,
    items,
    topics,
    subclusters: o.subclusters,
    vectorDim: o.vectorDim,
    zipfExponent: o.zipfExponent,
    topicZipfExponent: o.topicZipfExponent,
  });
  await sink('items/items.parquet', encodeItems({ itemIds: world.itemIds, vectors: world.vectors, dim: o.vectorDim }));
  await sink(
    'truth/items.parquet',
    encodeParquet(
      [
        { name: 'item_id', type: 'utf8' },
        { name: 'topic', type: 'int32' },
        { name: 'subcluster', type: 'int32' },
        { name: 'popularity_rank', type: 'int32' },
      ],
      { item_id: world.itemIds, topic: world.itemTopic, subcluster: world.itemSub, popularity_rank: world.itemRank },
    ),
  );
  return world;
}

/** What the user chunks wrote: events in all and per day, and user-days with any event. */
interface EventCounts {
  events: number;
  activeUserDays: number;
  readonly eventsByDay: Record<string, number>;
}

/** Every user chunk, day by day: one events file per chunk and day with events, then the chunk's ground truth. */
async function writeUserChunks(
  o: z.output<typeof generateOptionsSchema>,
  world: World,
  dates: readonly string[],
  sink: FileSink,
  progress: (message: string) => void,
  started: number,
): Promise<EventCounts> {
  const dayStarts = dates.map((_, d) => dayStartMs(o.start) + d * DAY_MS);
  const counts: EventCounts = { events: 0, activeUserDays: 0, eventsByDay: {} };
  const chunks = Math.ceil(o.users / o.chunkUsers);
  const rng = new Rng(0);
  const buffer = new EventBuffer();
  const userModel = { ...o, seed: o.seed };
  for (let c = 0; c < chunks; c++) {
    const first = c * o.chunkUsers;
    const chunk = new UserChunk(first, Math.min(o.chunkUsers, o.users - first), world, userModel);
    const part = `part-${String(c).padStart(5, '0')}.parquet`;
    for (let d = 0; d < o.days; d++) {
      buffer.clear();
      for (let u = 0; u < chunk.count; u++) {
        rng.state = chunk.rng[u]!;
        const before = buffer.length;
        generateUserDay(chunk, u, d, dayStarts[d]!, world, rng, o, buffer);
        if (buffer.length > before) counts.activeUserDays++;
        chunk.rng[u] = rng.state;
      }
      if (buffer.length > 0) {
        await sink(`${eventDayPrefix(dates[d]!)}${part}`, encodeEvents(buffer));
        counts.eventsByDay[dates[d]!] = (counts.eventsByDay[dates[d]!] ?? 0) + buffer.length;
        counts.events += buffer.length;
      }
    }
    await writeTruth(sink, chunk, dates, part);
    const seconds = (performance.now() - started) / 1000;
    progress(
      `generate: chunk ${c + 1}/${chunks} users ${first + chunk.count}/${o.users} events ${counts.events} ` +
        `(${Math.round(counts.events / Math.max(seconds, 1e-3))}/s) ${seconds.toFixed(1)} s`,
    );
  }
  return counts;
}

export async function generateDataset(options: GenerateOptions): Promise<GenerateSummary> {
  const o = parseOptions(options);
  const baseSink = options.sink ?? directorySink(options.out!);
  let files = 0;
  let bytes = 0;
  const sink: FileSink = async (key, body) => {
    files++;
    bytes += body.length;
    await baseSink(key, body);
  };
  const started = performance.now();
  const world = await writeWorld(o, sink);
  const items = world.itemIds.length;
  const topics = world.options.topics;
  const dates = Array.from({ length: o.days }, (_, d) => addDays(o.start, d));
  const counts = await writeUserChunks(o, world, dates, sink, options.onProgress ?? (() => {}), started);
  const summary: GenerateSummary = {
    users: o.users,
    items,
    topics,
    days: o.days,
    start: o.start,
    end: dates[dates.length - 1]!,
    events: counts.events,
    eventsByDay: counts.eventsByDay,
    activeUserDays: counts.activeUserDays,
    files: files + 1,
    bytes,
    seconds: (performance.now() - started) / 1000,
  };
  const { seconds: _s, bytes: _b, files: _f, ...deterministic } = summary;
  await sink('truth/generator.json', JSON.stringify({ options: { ...o, items, topics }, ...deterministic }, null, 2));
  return { ...summary, bytes };
}

async function writeTruth(sink: FileSink, chunk: UserChunk, dates: readonly string[], part: string): Promise<void> {
  const ended = (u: number): string | null => (chunk.endDay[u]! < dates.length ? dates[chunk.endDay[u]!]! : null);
  await sink(
    `truth/users/${part}`,
    encodeParquet(
      [
        { name: 'user_id', type: 'utf8' },
        { name: 'first_day', type: 'utf8' },
        { name: 'churn_day', type: 'utf8', nullable: true },
        { name: 'activity', type: 'float32' },
        { name: 'p_active', type: 'float32' },
        { name: 'tz_hours', type: 'int32' },
      ],
      {
        user_id: chunk.ids,
        first_day: Array.from(chunk.startDay, (d) => dates[d]!),
        churn_day: Array.from({ length: chunk.count }, (_, u) => ended(u)),
        activity: chunk.activity,
        p_active: chunk.pActive,
        tz_hours: Int32Array.from(chunk.tzHours),
      },
    ),
  );
  const userIds: string[] = [];
  const topics: number[] = [];
  const startWeights: number[] = [];
  const endWeights: number[] = [];
  for (let u = 0; u < chunk.count; u++) {
    const weights = new Map<number, [number, number]>();
    for (let j = 0; j < MAX_INTERESTS; j++) {
      const i = u * MAX_INTERESTS + j;
      if (j < chunk.nInterests[u]!) {
        const s = chunk.startTopics[i]!;
        weights.set(s, [chunk.startWeights[i]!, weights.get(s)?.[1] ?? 0]);
      }
    }
    for (let j = 0; j < chunk.nInterests[u]!; j++) {
      const i = u * MAX_INTERESTS + j;
      const t = chunk.topics[i]!;
      weights.set(t, [weights.get(t)?.[0] ?? 0, chunk.weights[i]!]);
    }
    for (const [topic, [start, end]] of [...weights].sort((a, b) => a[0] - b[0])) {
      userIds.push(chunk.ids[u]!);
      topics.push(topic);
      startWeights.push(start);
      endWeights.push(end);
    }
  }
  await sink(
    `truth/user_interests/${part}`,
    encodeParquet(
      [
        { name: 'user_id', type: 'utf8' },
        { name: 'topic', type: 'int32' },
        { name: 'weight_start', type: 'float32' },
        { name: 'weight_end', type: 'float32' },
      ],
      { user_id: userIds, topic: topics, weight_start: startWeights, weight_end: endWeights },
    ),
  );
}
