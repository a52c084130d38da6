import { randomUUID } from 'node:crypto';
import {
  COMPACT_DELTA_SHARE,
  COMPACT_EVERY_DAYS,
  PARTITIONS,
  REFRESH_AGE_DAYS,
  RUN_DATE_HINT,
} from '../contract/run-contract.ts';
import { assertDayComplete, classifyEventObjects, type EventListing } from '../events/day-files.ts';
import { DataError } from '../events/errors.ts';
import { objectByteSource } from '../events/read-events.ts';
import { addDays, dayStartMs } from '../events/schema.ts';
import { parquetRowGroups } from '../io/parquet.ts';
import { EventsMissingError, NotFoundError, ValidationError } from '../util/errors.ts';
import { dayFingerprint, inputChanges, replayCommand } from './input-days.ts';
import { layout } from './layout.ts';
import { loadDeployedManifest } from './model.ts';
import { COMPACTION_DEFAULTS, planSnapshot, stateChainOf } from './state-chain.ts';
import type { ObjectsEnv, PlanEnv, PlanInput, RunManifest, SliceFile, StateChain } from './types.ts';
import { assertSkipCosine, writePolicyDates } from './write-policy.ts';

export const PLAN_DEFAULTS = {
  partitions: PARTITIONS.default,
  refreshAgeDays: REFRESH_AGE_DAYS.default,
  lookbackDays: 365,
  sliceBytes: 64 * 1024 * 1024,
  futureToleranceHours: 6,
  compactEveryDays: COMPACTION_DEFAULTS.everyDays,
  compactDeltaShare: COMPACTION_DEFAULTS.deltaShare,
} as const;

/**
 * The plan's settings a caller passes through as they are (the local runner's options, and so the
 * CLI's flags); the rest of PlanInput (date, model, backfill, clock) is the run's own.
 */
export const PLAN_OPTION_KEYS = [
  'partitions',
  'refreshAgeDays',
  'lookbackDays',
  'sliceBytes',
  'futureToleranceHours',
  'requireMarker',
  'replayFrom',
  'compactEveryDays',
  'compactDeltaShare',
  'writeSkipCosine',
] as const satisfies readonly (keyof PlanInput)[];

export type PlanOptions = Pick<PlanInput, (typeof PLAN_OPTION_KEYS)[number]>;

/**
 * The plan options among `source`'s fields, only those set: an option left undefined is absent
 * from the plan's input, so the plan applies its default (PLAN_DEFAULTS).
 */
export function planOptionsOf(source: PlanOptions): PlanOptions {
  const options: Partial<Record<keyof PlanOptions, unknown>> = {};
  for (const key of PLAN_OPTION_KEYS) {
    if (source[key] !== undefined) options[key] = source[key];
  }
  return options as PlanOptions;
}

export function assertRunDate(date: string): void {
  try {
    dayStartMs(date);
  } catch {
    throw new ValidationError(`invalid date ${JSON.stringify(date)}: ${RUN_DATE_HINT}`, { date });
  }
}

/**
 * A run date after today (UTC) is refused before anything is written: its events are in the
 * future, and a published future version would hold the pointer (and retention) hostage.
 * `toleranceHours` lets a day that starts within that many hours of now through (clock skew).
 */
export function assertRunDateNotAhead(date: string, nowMs: number, toleranceHours: number): void {
  assertRunDate(date);
  if (!(toleranceHours >= 0 && toleranceHours <= 48)) {
    throw new ValidationError(`futureToleranceHours must be in 0..48, got ${toleranceHours}`, { toleranceHours });
  }
  if (dayStartMs(date) > nowMs + toleranceHours * 3_600_000) {
    const today = new Date(nowMs).toISOString().slice(0, 10);
    throw new ValidationError(
      `run date ${date} is after today (${today} UTC): a daily run embeds a day that has begun; ` +
        `check --date (tolerance ${toleranceHours} h)`,
      { date, today },
    );
  }
}

function positiveInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ValidationError(`${name} must be an integer in 1..${max}, got ${value}`, { [name]: value });
  }
  return value;
}

/** The snapshot a run starts from: a published date's, with that date's published attempt. */
export interface PreviousSnapshot {
  readonly date: string;
  readonly attempt?: string;
  /** Fingerprints of every event day the state was built from (RunManifest.dayFingerprints). */
  readonly dayFingerprints: Readonly<Record<string, string>>;
  /** The files that state is read from: its base and deltas (./state-chain.ts). */
  readonly state: StateChain;
}

/**
 * The newest published (not withdrawn) date before `date` under this model whose run had the
 * same partition count: its snapshots (of its published attempt) are the state the next run
 * builds on. Refused, failed or withdrawn runs never count, so their events are caught up again.
 */
export async function findPreviousSnapshot(
  env: PlanEnv,
  modelVersion: string,
  date: string,
  partitions: number,
): Promise<PreviousSnapshot | undefined> {
  const published = (await env.embeddings.listVersions())
    .filter((v) => v.modelVersion === modelVersion && v.published && !v.withdrawn && v.date < date)
    .sort((a, b) => (a.date < b.date ? 1 : -1));
  for (const candidate of published) {
    const bytes = await env.objects.getIfExists(layout.runManifest(modelVersion, candidate.date, candidate.attempt));
    if (!bytes) continue;
    const run = JSON.parse(Buffer.from(bytes).toString('utf8')) as RunManifest;
    if (run.partitions === partitions && run.attempt === candidate.attempt) {
      return {
        date: candidate.date,
        ...(candidate.attempt === undefined ? {} : { attempt: candidate.attempt }),
        dayFingerprints: run.dayFingerprints ?? {},
        state: stateChainOf(run),
      };
    }
  }
  return undefined;
}

/** What a run's outputs are a function of (besides the model): equal inputs, equal bytes. */
function runInputs(run: Omit<RunManifest, 'attempt' | 'createdAt' | 'inputChanges' | 'ignoredFiles'>): string {
  return JSON.stringify([
    run.partitions,
    run.slices,
    run.days,
    run.backfill,
    run.refreshAgeDays,
    run.lookbackDays,
    run.writeSkipCosine ?? null,
    run.writePolicyDates ?? null,
    run.previousSnapshotDate ?? null,
    run.previousSnapshotAttempt ?? null,
    run.dayFingerprints ?? null,
    run.snapshot ?? 'full',
    run.fullPartitions ?? null,
    run.previousState ?? null,
  ]);
}

/**
 * The attempt a new run of `date` writes under: the bare keys while the date has no published
 * version (a rerun after a crash or a refusal rewrites the same keys); once it has one, a fresh
 * id, so a rerun never writes a key that version's readers get. The one exception is a rerun of
 * exactly the published attempt's inputs (a crash during or after its publish): every output is
 * a function of them, so it rewrites the published keys with the same bytes and finishes.
 */
export async function chooseAttempt(
  env: PlanEnv,
  draft: Omit<RunManifest, 'attempt' | 'createdAt' | 'inputChanges' | 'ignoredFiles'>,
): Promise<string | undefined> {
  const record = await env.embeddings.getVersion({ modelVersion: draft.modelVersion, date: draft.date });
  if (!record?.published) return undefined;
  const bytes = await env.objects.getIfExists(layout.runManifest(draft.modelVersion, draft.date, record.attempt));
  const published = bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as RunManifest) : undefined;
  if (published && published.attempt === record.attempt && runInputs(published) === runInputs(draft)) {
    return record.attempt;
  }
  return randomUUID().replaceAll('-', '').slice(0, 12);
}

/** The plan's numeric settings, each within its limit (the partition count's from the run contract). */
function planSettings(input: PlanInput) {
  const partitions = positiveInt('partitions', input.partitions ?? PLAN_DEFAULTS.partitions, PARTITIONS.max);
  const refreshAgeDays = positiveInt(
    'refreshAgeDays',
    input.refreshAgeDays ?? PLAN_DEFAULTS.refreshAgeDays,
    REFRESH_AGE_DAYS.max,
  );
  const lookbackDays = positiveInt('lookbackDays', input.lookbackDays ?? PLAN_DEFAULTS.lookbackDays, 3650);
  const sliceBytes = positiveInt('sliceBytes', input.sliceBytes ?? PLAN_DEFAULTS.sliceBytes, 2 ** 40);
  const writeSkipCosine = input.writeSkipCosine === undefined ? undefined : assertSkipCosine(input.writeSkipCosine);
  const compactEveryDays = positiveInt(
    'compactEveryDays',
    input.compactEveryDays ?? PLAN_DEFAULTS.compactEveryDays,
    COMPACT_EVERY_DAYS.max,
  );
  const compactDeltaShare = input.compactDeltaShare ?? PLAN_DEFAULTS.compactDeltaShare;
  if (!(compactDeltaShare > 0 && compactDeltaShare <= COMPACT_DELTA_SHARE.max)) {
    throw new ValidationError(
      `compactDeltaShare must be in (0, ${COMPACT_DELTA_SHARE.max}], got ${compactDeltaShare}`,
      {
        compactDeltaShare,
      },
    );
  }
  return { partitions, refreshAgeDays, lookbackDays, sliceBytes, writeSkipCosine, compactEveryDays, compactDeltaShare };
}

/** Refuses a run date with no day folder, an incomplete day, or a day folder without a data file. */
function assertDayReadable(listing: EventListing, date: string, root: string, requireMarker: boolean): void {
  const day = listing.days.get(date);
  if (!day) {
    throw new EventsMissingError(`no events for ${date}: nothing under events/dt=${date}/ in ${root}`, {
      date,
      root,
    });
  }
  assertDayComplete(day, requireMarker);
  if (day.files.length === 0) {
    const ignored = day.ignored.map((f) => `${f.key} (${f.reason})`);
    const Refusal = day.ignored.some((f) => f.reason === 'in_progress') ? EventsMissingError : NotFoundError;
    throw new Refusal(
      `no data file for ${date} in events/dt=${date}/: ${ignored.length > 0 ? `ignored ${ignored.join(', ')}` : `only ${day.marker ? '_SUCCESS' : 'nothing'}`}. ` +
        'Data files are named *.parquet directly in the day folder (docs/data.md); write an empty one for a day without events',
      { date, ignored: day.ignored.length },
    );
  }
}

function assertReplayFrom(replayFrom: string, date: string): void {
  assertRunDate(replayFrom);
  if (replayFrom > date) {
    throw new ValidationError(`--replay-from ${replayFrom} is after the run date ${date}`, { replayFrom });
  }
}

/** Cuts the day files (a file larger than a slice into row-group pieces) into slices of at most `sliceBytes`. */
async function cutSlices(
  env: ObjectsEnv,
  files: readonly { key: string; size: number; date: string }[],
  sliceBytes: number,
): Promise<{ index: number; files: SliceFile[] }[]> {
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
  return slices;
}

/** What the run will read, and what it ignored or found changed after use. */
function logPlan(
  env: Pick<PlanEnv, 'log'>,
  run: RunManifest,
  fileCount: number,
  attempt: string | undefined,
  snapshot: string,
): void {
  const { date, previousSnapshotDate, ignoredFiles = [], inputChanges: changed = [] } = run;
  const rerun =
    attempt === undefined
      ? ''
      : ` (attempt ${attempt}: ${date} is published; this rerun writes apart and replaces it only if it publishes)`;
  env.log?.(
    `plan ${run.version}${rerun}: ${fileCount} files in ${run.slices.length} slices, ${run.partitions} partitions, ` +
      snapshot,
    {
      previousSnapshotDate,
      days: run.days.length,
    },
  );
  for (const f of ignoredFiles)
    env.log?.(`ignored ${f.key}: ${f.reason} (not read; docs/data.md, "Which files count")`);
  if (changed.length > 0) {
    env.log?.(
      `input changed after it was used: ${changed.map((c) => `dt=${c.day} ${c.kind}`).join(', ')}; ` +
        `the published state does not include it. Replay: ${replayCommand(changed, date)}`,
    );
  }
}

/**
 * Stage 1. Finds D's event files (plus the catch-up days since the previous published state, or
 * the look-back on a first run; with `replayFrom`, every day from there on), fixes P, cuts the
 * files into byte-bounded slices (a file larger than a slice into row-group pieces) and writes the
 * run manifest with what it read: a fingerprint per day, the ignored files, and the days whose
 * input changed or arrived after later days ran. Refused before anything is written: a date
 * after today, a date without any `events/dt=D/` object (EventsMissingError, a NotFoundError the
 * state machine retries), a day folder without any data file in it (NotFoundError naming the
 * ignored files; EventsMissingError while one is still being written), a day without `_SUCCESS` when the deployment requires the marker. A data
 * file without rows is an empty day, allowed and reported by the later stages.
 */
export async function plan(env: PlanEnv, input: PlanInput): Promise<RunManifest> {
  assertRunDateNotAhead(
    input.date,
    input.now?.() ?? Date.now(),
    input.futureToleranceHours ?? PLAN_DEFAULTS.futureToleranceHours,
  );
  const { date, modelVersion } = input;
  const { partitions, refreshAgeDays, lookbackDays, sliceBytes, writeSkipCosine, compactEveryDays, compactDeltaShare } =
    planSettings(input);
  const manifest = await loadDeployedManifest(env, modelVersion);

  const listing = classifyEventObjects(await env.objects.list('events/'));
  assertDayReadable(listing, date, env.objects.root, input.requireMarker ?? false);
  if (input.replayFrom !== undefined) assertReplayFrom(input.replayFrom, date);
  const previous = await findPreviousSnapshot(env, modelVersion, input.replayFrom ?? date, partitions);
  const backfill = input.backfill ?? false;
  const policyDates = await writePolicyDates(env.embeddings, {
    date,
    modelVersion,
    backfill,
    refreshAgeDays,
    writeSkipCosine,
  });
  const previousSnapshotDate = previous?.date;
  const firstDay = previousSnapshotDate === undefined ? addDays(date, -lookbackDays) : addDays(previousSnapshotDate, 1);
  const runDays = [...listing.days.values()].filter((d) => d.date >= firstDay && d.date <= date);
  const files = runDays
    .flatMap((d) => d.files.map((f) => ({ key: f.key, size: f.size, date: d.date })))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const dayFingerprints: Record<string, string> = { ...previous?.dayFingerprints };
  for (const d of runDays) dayFingerprints[d.date] = dayFingerprint(d.files);
  const changed = previous ? inputChanges(listing, previous.dayFingerprints, previous.date) : [];
  const ignoredFiles = runDays.flatMap((d) => d.ignored);
  const compaction = { everyDays: compactEveryDays, deltaShare: compactDeltaShare };
  const state = await planSnapshot(env, { modelVersion, date, partitions, backfill }, previous?.state, compaction);

  const slices = await cutSlices(env, files, sliceBytes);

  const inputs = {
    version: `${modelVersion}@${date}`,
    date,
    modelVersion,
    partitions,
    slices,
    days: [...new Set(files.map((f) => f.date))],
    eventBytes: files.filter((f) => f.date === date).reduce((n, f) => n + f.size, 0),
    backfill,
    refreshAgeDays,
    ...(writeSkipCosine === undefined ? {} : { writeSkipCosine }),
    ...(policyDates === undefined ? {} : { writePolicyDates: policyDates }),
    lookbackDays,
    ...(previousSnapshotDate === undefined ? {} : { previousSnapshotDate }),
    ...(previous?.attempt === undefined ? {} : { previousSnapshotAttempt: previous.attempt }),
    ...(input.replayFrom === undefined ? {} : { replayFrom: input.replayFrom }),
    snapshot: state.snapshot,
    ...(state.snapshot === 'delta' && state.fullPartitions.length > 0 ? { fullPartitions: state.fullPartitions } : {}),
    ...(previous === undefined ? {} : { previousState: previous.state }),
    compactEveryDays,
    compactDeltaShare,
    dayFingerprints,
    maxLength: manifest.dims.maxLength,
  };
  const attempt = await chooseAttempt(env, inputs);
  const run: RunManifest = {
    ...inputs,
    ...(attempt === undefined ? {} : { attempt }),
    ignoredFiles,
    inputChanges: changed,
    createdAt: new Date().toISOString(),
  };
  await env.objects.put(layout.runManifest(modelVersion, date, attempt), `${JSON.stringify(run, null, 2)}\n`);
  if (attempt !== undefined) {
    await env.objects.put(layout.latestAttempt(modelVersion, date), `${JSON.stringify({ attempt })}\n`);
  }
  logPlan(env, run, files.length, attempt, `${state.snapshot} snapshot (${state.reason})`);
  return run;
}

/**
 * A file larger than a slice, cut into pieces of consecutive row groups of at most `sliceBytes`
 * each (at least one group), so that one big file does not make one slice the bottleneck (in
 * time and memory: the partition stage fetches only its piece's row groups). Reads only the
 * footer. A file that is small, has one row group, or whose footer cannot be read (the partition
 * stage quarantines it) stays whole, as does every file of a store without ranged reads.
 */
async function piecesOf(env: ObjectsEnv, file: SliceFile, sliceBytes: number): Promise<SliceFile[]> {
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

/**
 * A run's manifest: of the given attempt, or (attempt omitted) of the attempt the plan stage
 * started last for the date (the AWS stages get only the date and model).
 */
export async function readRunManifest(
  env: ObjectsEnv,
  modelVersion: string,
  date: string,
  attempt?: string,
): Promise<RunManifest> {
  let chosen = attempt;
  if (chosen === undefined) {
    const latest = await env.objects.getIfExists(layout.latestAttempt(modelVersion, date));
    if (latest) chosen = (JSON.parse(Buffer.from(latest).toString('utf8')) as { attempt: string }).attempt;
  }
  const bytes = await env.objects.getIfExists(layout.runManifest(modelVersion, date, chosen));
  if (!bytes) {
    throw new NotFoundError(`run ${modelVersion}@${date} has no manifest: run the plan stage first`, {
      modelVersion,
      date,
    });
  }
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as RunManifest;
}
