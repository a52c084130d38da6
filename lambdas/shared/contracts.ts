/**
 * The events that flow between the state machine, the stage Lambdas and the CLI, validated with
 * zod at every edge. The CLI (src/cli/aws.ts) builds RunRequest; the scheduler sends
 * `{ scheduledTime }`; the plan Lambda answers PlannedRun, which the Map and Batch steps read.
 */
import { z } from 'zod';
import { isValidDate } from '../../src/embeddings/table-schema.ts';
import { ValidationError } from '../../src/util/errors.ts';

const runDate = z.string().refine(isValidDate, 'expected an existing day as YYYY-MM-DD');
const modelVersion = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected [A-Za-z0-9._-]{1,64}');

/** Input of an execution: a scheduled start, a manual run, or one day of a backfill/range. */
export const RunRequestSchema = z
  .object({
    /** Run date; absent = the UTC day before `scheduledTime`. */
    date: runDate.optional(),
    /** The schedule's fire time (EventBridge Scheduler `<aws.scheduler.scheduled-time>`). */
    scheduledTime: z.iso.datetime({ offset: true }).optional(),
    /** Model to run; absent = the model of the current pointer. */
    modelVersion: modelVersion.optional(),
    /** Re-embed every user with a sequence (forced when the model differs from the pointer's). */
    backfill: z.boolean().optional(),
  })
  .strict()
  .refine((request) => request.date !== undefined || request.scheduledTime !== undefined, {
    message: 'either date or scheduledTime is required',
  });
export type RunRequest = z.output<typeof RunRequestSchema>;

/** The plan task: the execution's input plus its name, which owns the run lock. */
export const PlanTaskSchema = z
  .object({
    request: RunRequestSchema,
    execution: z.string().regex(/^[\w-]{1,80}$/, 'expected a Step Functions execution name'),
  })
  .strict();
export type PlanTask = z.output<typeof PlanTaskSchema>;

/** What the plan Lambda answers: everything the later steps need, kept small (state payload limit). */
export const PlannedRunSchema = z.object({
  date: runDate,
  modelVersion,
  version: z.string(),
  partitions: z.number().int().min(1),
  /** Slice indices for the Map state. */
  slices: z.array(z.number().int().min(0)),
  backfill: z.boolean(),
});
export type PlannedRun = z.output<typeof PlannedRunSchema>;

export const SliceTaskSchema = z.object({ date: runDate, modelVersion, slice: z.number().int().min(0) }).strict();
export type SliceTask = z.output<typeof SliceTaskSchema>;

export const PublishTaskSchema = z.object({ date: runDate, modelVersion }).strict();
export type PublishTask = z.output<typeof PublishTaskSchema>;

/** Parses an event; a bad one is a ValidationError (not retried by the state machine). */
export function parseEvent<T extends z.ZodType>(schema: T, event: unknown, what: string): z.output<T> {
  const result = schema.safeParse(event);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(event)'}: ${issue.message}`);
  throw new ValidationError(`invalid ${what}: ${problems.join('; ')}`, { issues: result.error.issues });
}

/** The run date of a scheduled start: the UTC day before the scheduled time. */
export function previousUtcDay(scheduledTime: string): string {
  const ms = Date.parse(scheduledTime);
  if (Number.isNaN(ms)) throw new ValidationError(`invalid scheduledTime ${JSON.stringify(scheduledTime)}`);
  return new Date(ms - 86_400_000).toISOString().slice(0, 10);
}
