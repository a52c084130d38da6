/**
 * The messages between the states of a run, validated with zod at every edge: the CLI and the
 * scheduler start an execution with a RunRequest, the plan Lambda answers PlannedRun (which the
 * Distributed Map and the Batch step read), the Map hands each partition Lambda a SliceTask, and
 * publish gets a PublishTask.
 */
import { z } from 'zod';
import { ValidationError } from '../util/errors.ts';
import {
  BATCH_ARRAY_SIZE,
  DATE_SHAPE,
  isValidDate,
  MODEL_VERSION_HINT,
  MODEL_VERSION_PATTERN,
  PARTITIONS,
  RUN_DATE_HINT,
} from './run-contract.ts';

export const runDateSchema = z.string().refine(isValidDate, RUN_DATE_HINT);
export const modelVersionSchema = z.string().regex(MODEL_VERSION_PATTERN, MODEL_VERSION_HINT);
export const partitionCountSchema = z.number().int().min(PARTITIONS.min).max(PARTITIONS.max);

/** The key of a day's completion marker: `events/dt=YYYY-MM-DD/<name>`. */
const MARKER_KEY = new RegExp(`^events/dt=(${DATE_SHAPE})/[^/]+$`);

/** Input of an execution: a scheduled start, a completion marker, a manual run or a backfill day. */
export const RunRequestSchema = z
  .object({
    /** Run date; absent = the UTC day before `scheduledTime`, or the marker's day. */
    date: runDateSchema.optional(),
    /** The schedule's fire time (EventBridge Scheduler `<aws.scheduler.scheduled-time>`). */
    scheduledTime: z.iso.datetime({ offset: true }).optional(),
    /** The S3 key of the completion marker that started this run (`events/dt=D/_SUCCESS`). */
    markerKey: z
      .string()
      .regex(MARKER_KEY, 'expected a marker key events/dt=YYYY-MM-DD/<name>')
      .refine((key) => isValidDate(MARKER_KEY.exec(key)?.[1] ?? ''), `marker key: ${RUN_DATE_HINT}`)
      .optional(),
    /** Model to run; absent = the model of the current pointer. */
    modelVersion: modelVersionSchema.optional(),
    /** Re-embed every user with a sequence (forced when the model differs from the pointer's). */
    backfill: z.boolean().optional(),
  })
  .strict()
  .refine((r) => r.date !== undefined || r.scheduledTime !== undefined || r.markerKey !== undefined, {
    message: 'one of date, scheduledTime or markerKey is required',
  });
export type RunRequest = z.output<typeof RunRequestSchema>;

/** The run date a request names: its date, the marker's day, or the UTC day before the schedule fired. */
export function runDateOf(request: RunRequest): string {
  if (request.date) return request.date;
  if (request.markerKey) return MARKER_KEY.exec(request.markerKey)![1]!;
  return previousUtcDay(request.scheduledTime!);
}

/** The run date of a scheduled start: the UTC day before the scheduled time. */
export function previousUtcDay(scheduledTime: string): string {
  const ms = Date.parse(scheduledTime);
  if (Number.isNaN(ms)) throw new ValidationError(`invalid scheduledTime ${JSON.stringify(scheduledTime)}`);
  return new Date(ms - 86_400_000).toISOString().slice(0, 10);
}

/** The plan task: the execution's input plus its name, which owns the run lock. */
export const PlanTaskSchema = z
  .object({
    request: RunRequestSchema,
    execution: z.string().regex(/^[\w-]{1,80}$/, 'expected a Step Functions execution name'),
  })
  .strict();
export type PlanTask = z.output<typeof PlanTaskSchema>;

/**
 * What the plan Lambda answers: small (state payload limit) and everything the later steps need.
 * The slice list itself stays in S3 (`slicesKey`), read by the Distributed Map.
 */
export const PlannedRunSchema = z.object({
  date: runDateSchema,
  modelVersion: modelVersionSchema,
  version: z.string(),
  partitions: partitionCountSchema,
  /** The same count as a string, for the Batch children's PARTITIONS variable. */
  partitionsText: z.string().regex(/^\d+$/),
  /** Batch array size: one child per partitionsPerJob partitions of this run. */
  arraySize: z.number().int().min(BATCH_ARRAY_SIZE.min).max(BATCH_ARRAY_SIZE.max),
  /** Object key of the JSON array of SliceItem the Distributed Map reads. */
  slicesKey: z.string().min(1),
  sliceCount: z.number().int().min(0),
  backfill: z.boolean(),
});
export type PlannedRun = z.output<typeof PlannedRunSchema>;

/** One entry of the slice list in S3: the Map adds nothing, each item is a complete SliceTask. */
export const SliceTaskSchema = z
  .object({ date: runDateSchema, modelVersion: modelVersionSchema, slice: z.number().int().min(0) })
  .strict();
export type SliceTask = z.output<typeof SliceTaskSchema>;

export const PublishTaskSchema = z.object({ date: runDateSchema, modelVersion: modelVersionSchema }).strict();
export type PublishTask = z.output<typeof PublishTaskSchema>;
