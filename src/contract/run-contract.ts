/**
 * The run contract: every value that crosses the CDK -> environment -> handler/worker boundary,
 * defined once. CDK builds the stage environment and validates its config with these limits; the
 * Lambdas, the Batch worker, the local runner and the CLI parse with them. Kept free of
 * aws-cdk-lib and the AWS SDK so every side can import it cheaply.
 */
import type { z } from 'zod';
import { ValidationError } from '../util/errors.ts';

/** Model versions are part of table keys: no `#` or `@`, so keys parse back unambiguously. */
export const MODEL_VERSION_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const MODEL_VERSION_HINT = 'expected [A-Za-z0-9._-]{1,64}';
/** The shape of a day, YYYY-MM-DD, as regex source: object keys (`dt=...`) embed it in their own patterns. */
export const DATE_SHAPE = String.raw`\d{4}-\d{2}-\d{2}`;
const DATE_PATTERN = new RegExp(`^${DATE_SHAPE}$`);
/** What a run date must be, for messages: `--date must be ${RUN_DATE_RULE}`. */
export const RUN_DATE_RULE = 'an existing day as YYYY-MM-DD';
export const RUN_DATE_HINT = `expected ${RUN_DATE_RULE}`;

/** A real calendar day as YYYY-MM-DD (2026-02-31 is not). */
export function isValidDate(date: string): boolean {
  if (!DATE_PATTERN.test(date)) return false;
  const parsed = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === date;
}

export function isValidModelVersion(modelVersion: string): boolean {
  return MODEL_VERSION_PATTERN.test(modelVersion);
}

/** A bounded integer setting: one default and one limit, read by CDK and by the runtime. */
export interface IntLimit {
  readonly min: number;
  readonly max: number;
  readonly default: number;
}

/** Partition count P of a run. CDK also requires P > partitionsPerJob (Batch arrays have >= 2 children). */
export const PARTITIONS: IntLimit = { min: 1, max: 4096, default: 8 };
/** Partitions one Batch array child embeds at once, one lane each. */
export const PARTITIONS_PER_JOB: IntLimit = { min: 1, max: 16, default: 2 };
/** Users whose newest embedding is older than this many days are re-embedded. */
export const REFRESH_AGE_DAYS: IntLimit = { min: 1, max: 365, default: 7 };
/**
 * State compaction (src/pipeline/state-chain.ts): each partition writes a full snapshot at least
 * every this many days (staggered over the partitions), deltas of the changed users between.
 * 1: a full snapshot daily.
 */
export const COMPACT_EVERY_DAYS: IntLimit = { min: 1, max: 365, default: 7 };
/** A partition also compacts when its deltas hold more than this share of its base's bytes: (0, 100]. */
export const COMPACT_DELTA_SHARE = { max: 100, default: 0.5 } as const;
/** Batch accepts array jobs of 2..10 000 children. */
export const BATCH_ARRAY_SIZE = { min: 2, max: 10_000 } as const;
/**
 * The write policy's threshold (src/pipeline/write-policy.ts): a cosine in (0, 1]. The default is
 * the one the bench measured as free (reports/bench.md, "Write policy"); the stack runs with it.
 */
export const WRITE_SKIP_COSINE = { max: 1, default: 0.95 } as const;

/** DynamoDB on-demand's default write throughput quota of one table, write units per second (adjustable). */
export const DYNAMODB_TABLE_WRITE_QUOTA = 40_000;
/**
 * Write units per second the daily run may use of its table, shared by every Batch lane that runs
 * at once (lanePace). Default: 80% of the default table quota, the rest left for other writers and
 * bursts; raise it with the table's quota.
 */
export const RUN_WRITE_UNITS_PER_SECOND: IntLimit = {
  min: 1,
  max: 10_000_000,
  default: 0.8 * DYNAMODB_TABLE_WRITE_QUOTA,
};

/**
 * Each lane's write budget (src/pipeline/write-pacer.ts): the run's write units per second over
 * the lanes that can run at once, so that together they stay within the run's share of the table
 * and do not throttle each other.
 */
export function lanePace(runWriteUnitsPerSecond: number, concurrentLanes: number): number {
  return Math.max(1, Math.floor(runWriteUnitsPerSecond / Math.max(1, concurrentLanes)));
}

/** Array size of a run: one child per `perJob` partitions. */
export function arraySizeOf(partitions: number, perJob: number): number {
  return Math.ceil(partitions / perJob);
}

/** What one partition (lane) of a Batch child reserves: 2 cores for its embed and writer threads. */
export const VCPUS_PER_PARTITION = 4;
export const MEMORY_GIB_PER_PARTITION = 14;

/** Longest run: the state machine's timeout and the run lock's lease. */
export const RUN_TIMEOUT_MS = 20 * 3_600_000;

/** The owner attribute of a run-lock item: the execution (or local run) that holds it. */
export const LOCK_OWNER_ATTRIBUTE = 'owner';

/** Exit codes of the Batch worker; Batch's retry strategy retries `transient` (EX_TEMPFAIL) only. */
export const EXIT_CODES = { ok: 0, unexpected: 1, invalid: 2, model: 3, transient: 75 } as const;

/** CloudWatch namespace of every metric the handlers and the worker emit (EMF). */
export const METRICS_NAMESPACE = 'PinnerFormer';

/**
 * The `service` dimension of each emitter's metrics (Powertools' service name: CDK sets it on
 * each function as POWERTOOLS_SERVICE_NAME, the Batch worker passes it itself).
 */
export const METRIC_SERVICES = {
  plan: 'plan',
  partition: 'partition',
  publish: 'publish',
  embedWorker: 'embed-worker',
  lookup: 'lookup',
} as const;

/** Metric names, with the `service` dimension that emits them; alarms read the same entries. */
export const RUN_METRICS = {
  published: { name: 'RunPublished', service: METRIC_SERVICES.publish },
  refused: { name: 'RunRefused', service: METRIC_SERVICES.publish },
  publishFailed: { name: 'PublishFailed', service: METRIC_SERVICES.publish },
  planFailed: { name: 'PlanFailed', service: METRIC_SERVICES.plan },
  runPlanned: { name: 'RunPlanned', service: METRIC_SERVICES.plan },
  slices: { name: 'Slices', service: METRIC_SERVICES.plan },
  eventsRouted: { name: 'EventsRouted', service: METRIC_SERVICES.partition },
  invalidEvents: { name: 'InvalidEvents', service: METRIC_SERVICES.partition },
  sliceFailed: { name: 'PartitionFailed', service: METRIC_SERVICES.partition },
  partitionSucceeded: { name: 'PartitionSucceeded', service: METRIC_SERVICES.embedWorker },
  partitionFailed: { name: 'PartitionFailed', service: METRIC_SERVICES.embedWorker },
  embeddedUsers: { name: 'EmbeddedUsers', service: METRIC_SERVICES.embedWorker },
  lookupServerErrors: { name: 'LookupServerErrors', service: METRIC_SERVICES.lookup },
  lookupRequests: { name: 'LookupRequests', service: METRIC_SERVICES.lookup },
} as const;

/** How an issue's path is named: `a.b.0` by default, `--flag` for the CLI. */
export type IssuePathName = (path: readonly PropertyKey[]) => string;

const dottedPath: IssuePathName = (path) => path.map(String).join('.');

/** One line per zod issue: `path: message`; `root` names an issue about the whole value. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  root = '(input)',
  pathName: IssuePathName = dottedPath,
): string[] {
  return issues.map((issue) => `${(issue.path.length > 0 && pathName(issue.path)) || root}: ${issue.message}`);
}

/** Parses with a schema; failure is a ValidationError naming `what` and every problem. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(`invalid ${what}: ${formatIssues(result.error.issues).join('; ')}`, {
    issues: result.error.issues,
  });
}
