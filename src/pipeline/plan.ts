import { PARTITIONS, REFRESH_AGE_DAYS } from '../contract/run-contract.ts';
import { DataError } from '../events/errors.ts';
import { objectByteSource } from '../events/read-events.ts';
import { addDays, dayOfEventKey, dayStartMs } from '../events/schema.ts';
import { parquetRowGroups } from '../io/parquet.ts';
import { EventsMissingError, NotFoundError, ValidationError } from '../util/errors.ts';
import { layout } from './layout.ts';
import { loadDeployedManifest } from './model.ts';
import type { PipelineEnv, PlanInput, RunManifest, SliceFile } from './types.ts';
import { assertSkipCosine } from './write-policy.ts';

export const PLAN_DEFAULTS = {
  partitions: PARTITIONS.default,
  refreshAgeDays: REFRESH_AGE_DAYS.default,
  lookbackDays: 365,
  sliceBytes: 64 * 1024 * 1024,
} as const;

export function assertRunDate(date: string): void {
  try {
    dayStartMs(date);
  } catch {
    throw new ValidationError(`invalid date ${JSON.stringify(date)}: expected an existing day as YYYY-MM-DD`, { date });
  }
}

function positiveInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ValidationError(`${name} must be an integer in 1..${max}, got ${value}`, { [name]: value });
  }
  return value;
}

/**
 * The newest date before `date` whose embed stage finished for every partition under this model
 * (all partition results present with the same partition count): its snapshots are complete.
 */
export async function findPreviousSnapshotDate(
  env: PipelineEnv,
  modelVersion: string,
  date: string,
  partitions: number,
): Promise<string | undefined> {
  const done = new Map<string, number>();
  for (const { key } of await env.objects.list(`runs/${modelVersion}/`)) {
    const m = /^runs\/[^/]+\/dt=(\d{4}-\d{2}-\d{2})\/partitions\/partition=(\d+)\.json$/.exec(key);
    if (m && m[1]! < date && Number(m[2]) < partitions) done.set(m[1]!, (done.get(m[1]!) ?? 0) + 1);
  }
  const complete = [...done].filter(([, n]) => n === partitions).map(([d]) => d);
  complete.sort();
  for (const candidate of complete.reverse()) {
    const manifest = await env.objects.getIfExists(layout.runManifest(modelVersion, candidate));
    if (manifest && (JSON.parse(Buffer.from(manifest).toString('utf8')) as RunManifest).partitions === partitions) {
      return candidate;
    }
  }
  return undefined;
}

/**
 * Stage 1. Finds D's event files (plus the catch-up days since the previous snapshot, or the
 * look-back on a first run), fixes P, cuts the files into byte-bounded slices (a file larger than
 * a slice into row-group pieces) and writes the run manifest. A date without any `events/dt=D/` object is refused (EventsMissingError, a NotFoundError); a day whose
 * files hold no rows is allowed and reported as empty by the later stages.
 */
export async function plan(env: PipelineEnv, input: PlanInput): Promise<RunManifest> {
  assertRunDate(input.date);
  const { date, modelVersion } = input;
  const partitions = positiveInt('partitions', input.partitions ?? PLAN_DEFAULTS.partitions, PARTITIONS.max);
  const refreshAgeDays = positiveInt(
    'refreshAgeDays',
    input.refreshAgeDays ?? PLAN_DEFAULTS.refreshAgeDays,
    REFRESH_AGE_DAYS.max,
  );
  const lookbackDays = positiveInt('lookbackDays', input.lookbackDays ?? PLAN_DEFAULTS.lookbackDays, 3650);
  const sliceBytes = positiveInt('sliceBytes', input.sliceBytes ?? PLAN_DEFAULTS.sliceBytes, 2 ** 40);
  const writeSkipCosine = input.writeSkipCosine === undefined ? undefined : assertSkipCosine(input.writeSkipCosine);
  const manifest = await loadDeployedManifest(env, modelVersion);

  const eventObjects = await env.objects.list('events/');
  if (!eventObjects.some((o) => o.key.startsWith(`events/dt=${date}/`))) {
    throw new EventsMissingError(`no events for ${date}: nothing under events/dt=${date}/ in ${env.objects.root}`, {
      date,
      root: env.objects.root,
    });
  }
  const previousSnapshotDate = await findPreviousSnapshotDate(env, modelVersion, date, partitions);
  const firstDay = previousSnapshotDate === undefined ? addDays(date, -lookbackDays) : addDays(previousSnapshotDate, 1);
  const files = eventObjects
    .filter((o) => o.key.endsWith('.parquet'))
    .map((o) => ({ key: o.key, size: o.size, date: dayOfEventKey(o.key) }))
    .filter((f): f is { key: string; size: number; date: string } => f.date !== undefined)
    .filter((f) => f.date >= firstDay && f.date <= date)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const entries: SliceFile[] = [];
  for (const file of files) entries.push(...(await piecesOf(env, file, sliceBytes)));
  const slices: { index: number; files: SliceFile[] }[] = [];
  let current: SliceFile[] = [];
  let bytes = 0;
  for (const file of entries) {
    if (current.length > 0 && bytes + file.size > sliceBytes) {
      slices.push({ index: slices.length, files: current });
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += file.size;
  }
  if (current.length > 0) slices.push({ index: slices.length, files: current });

  const run: RunManifest = {
    version: `${modelVersion}@${date}`,
    date,
    modelVersion,
    partitions,
    slices,
    days: [...new Set(files.map((f) => f.date))],
    eventBytes: files.filter((f) => f.date === date).reduce((n, f) => n + f.size, 0),
    backfill: input.backfill ?? false,
    refreshAgeDays,
    ...(writeSkipCosine === undefined ? {} : { writeSkipCosine }),
    lookbackDays,
    ...(previousSnapshotDate === undefined ? {} : { previousSnapshotDate }),
    maxLength: manifest.dims.maxLength,
    createdAt: new Date().toISOString(),
  };
  await env.objects.put(layout.runManifest(modelVersion, date), `${JSON.stringify(run, null, 2)}\n`);
  env.log?.(`plan ${run.version}: ${files.length} files in ${slices.length} slices, ${partitions} partitions`, {
    previousSnapshotDate,
    days: run.days.length,
  });
  return run;
}

/**
 * A file larger than a slice, cut into pieces of consecutive row groups of at most `sliceBytes`
 * each (at least one group), so that one big file does not make one slice the bottleneck (in
 * time and memory: the partition stage fetches only its piece's row groups). Reads only the
 * footer. A file that is small, has one row group, or whose footer cannot be read (the partition
 * stage quarantines it) stays whole, as does every file of a store without ranged reads.
 */
async function piecesOf(env: PipelineEnv, file: SliceFile, sliceBytes: number): Promise<SliceFile[]> {
  if (file.size <= sliceBytes || !env.objects.getRange) return [file];
  let groups: Awaited<ReturnType<typeof parquetRowGroups>>;
  try {
    groups = await parquetRowGroups(objectByteSource(env.objects, file.key, file.size), file.key);
  } catch (error) {
    if (error instanceof DataError) return [file];
    throw error;
  }
  const pieces: { rows: [number, number]; bytes: number }[] = [];
  for (const group of groups) {
    const last = pieces.at(-1);
    if (last && last.bytes + group.bytes <= sliceBytes) {
      last.rows[1] = group.rowStart + group.rows;
      last.bytes += group.bytes;
    } else {
      pieces.push({ rows: [group.rowStart, group.rowStart + group.rows], bytes: group.bytes });
    }
  }
  if (pieces.length < 2) return [file];
  return pieces.map((piece) => ({
    key: file.key,
    date: file.date,
    size: piece.bytes,
    part: { rows: piece.rows, fileSize: file.size },
  }));
}

export async function readRunManifest(env: PipelineEnv, modelVersion: string, date: string): Promise<RunManifest> {
  const bytes = await env.objects.getIfExists(layout.runManifest(modelVersion, date));
  if (!bytes) {
    throw new NotFoundError(`run ${modelVersion}@${date} has no manifest: run the plan stage first`, {
      modelVersion,
      date,
    });
  }
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as RunManifest;
}
