/**
 * Deployment configuration of the PinnerFormer stack: typed, validated with zod, read from the
 * `pinnerformer` object in cdk.json's context and overridable one key at a time with
 * `npx cdk deploy -c partitions=32 -c spot=false`. Every field has a documented default.
 */
import { z } from 'zod';
import {
  arraySizeOf,
  BATCH_ARRAY_SIZE,
  COMPACT_DELTA_SHARE,
  COMPACT_EVERY_DAYS,
  formatIssues,
  type IntLimit,
  PARTITIONS,
  PARTITIONS_PER_JOB,
  REFRESH_AGE_DAYS,
  RUN_WRITE_UNITS_PER_SECOND,
  WRITE_SKIP_COSINE,
} from '../src/contract/run-contract.ts';
import { DEFAULT_STACK_NAME } from '../src/contract/stack-outputs.ts';
import { assertRefreshWithinRetention, DEFAULT_RETENTION_DAYS } from '../src/embeddings/table-schema.ts';
import { ValidationError } from '../src/util/errors.ts';
import { instanceTypeProblem, placementProblems } from './instance-sizes.ts';

/** `-c key=value` overrides arrive as strings: turn them into numbers, booleans and lists. */
const fromString =
  (kind: 'number' | 'boolean' | 'list') =>
  (value: unknown): unknown => {
    if (typeof value !== 'string') return value;
    const text = value.trim();
    if (kind === 'number') return text === '' ? value : Number(text);
    if (kind === 'boolean') return text === 'true' ? true : text === 'false' ? false : value;
    return text === '' ? [] : text.split(',').map((part) => part.trim());
  };

/** The retention periods CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const int = (min: number, max: number) => z.preprocess(fromString('number'), z.number().int().min(min).max(max));
/** A setting bounded by the run contract's limit, with its default. */
const limited = (limit: IntLimit) => int(limit.min, limit.max).default(limit.default);
const bool = () => z.preprocess(fromString('boolean'), z.boolean());

/** An x86 NVIDIA GPU instance family (`g5`) or type (`g6.2xlarge`) from cdk/instance-sizes.ts. */
const gpuInstanceType = z.string().superRefine((type, context) => {
  const problem = instanceTypeProblem(type);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

export const DeploymentConfigSchema = z
  .object({
    /** CloudFormation stack name; `pinnerformer aws` reads this stack's outputs. Default: PinnerFormer. */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'expected a CloudFormation stack name')
      .default(DEFAULT_STACK_NAME),
    /** EventBridge Scheduler expression of the daily run (UTC). Default: 03:00 UTC every day. */
    scheduleExpression: z
      .string()
      .regex(/^(cron\(.+\)|rate\(.+\))$/, 'expected cron(...) or rate(...)')
      .default('cron(0 3 * * ? *)'),
    /**
     * Whether the schedule starts runs. Default: false, so a fresh deployment does not alarm
     * before a model is deployed and a backfill has published; enable with
     * `npx cdk deploy -c scheduleEnabled=true` (docs/deploy.md).
     */
    scheduleEnabled: bool().default(false),
    /**
     * What starts the daily run: the clock (`schedule`), or the day's completion marker landing in
     * S3 (`completion-marker`: `events/dt=D/<completionMarkerName>` starts the run of day D).
     * Default: schedule.
     */
    trigger: z.enum(['schedule', 'completion-marker']).default('schedule'),
    /** File name of the completion marker, for trigger=completion-marker. Default: _SUCCESS. */
    completionMarkerName: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,128}$/, 'expected a file name such as _SUCCESS')
      .default('_SUCCESS'),
    /** Hours a run keeps retrying a day whose events have not arrived (0 = fail at once). Default: 6. */
    dataWaitHours: int(0, 24).default(6),
    /** Minutes between those retries. Default: 30. */
    dataRetryMinutes: int(5, 240).default(30),
    /** Default partition count of a run (the run manifest carries it to the Batch children). Default: 8. */
    partitions: limited(PARTITIONS),
    /**
     * Partitions one Batch array child embeds at once, one lane each (its own GPU session, CPU
     * threads and 4 vCPUs + 14 GiB), so the child's CPU work keeps pace with its one GPU; must be
     * below `partitions` (Batch arrays have at least 2 children). Default: 2 (8 vCPUs, g5.2xlarge:
     * docs/deploy.md, reports/bench.md section 3).
     */
    partitionsPerJob: limited(PARTITIONS_PER_JOB),
    /** Concurrent partition-stage Lambdas in the Map state. Default: 32. */
    mapMaxConcurrency: int(1, 1000).default(32),
    /** GPU instance families or types for Batch. Default: g5 and g6. */
    instanceTypes: z.preprocess(fromString('list'), z.array(gpuInstanceType).min(1)).default(['g5', 'g6']),
    /** Upper bound of the Batch compute environments' vCPUs (it scales to zero when idle). Default: 64. */
    maxVcpus: int(4, 10_000).default(64),
    /**
     * Run the array job on Spot first; if that attempt fails (Spot capacity never came and the
     * queue cancelled the RUNNABLE children, reclaims beyond jobAttempts, ...), the state machine
     * runs it once more on the on-demand queue. false = on-demand only. Default: true.
     */
    spot: bool().default(true),
    /**
     * Minutes a child may wait RUNNABLE for capacity (insufficient instance capacity) before the
     * queue cancels it with that reason; misconfigurations (no instance type fits, maxVcpus too
     * small) are cancelled after 10 minutes. 10..1440. Default: 60.
     */
    runnableTimeoutMinutes: int(10, 24 * 60).default(60),
    /** Root volume of the GPU instances, GiB (the image, its layers unpacked, and work files). Default: 100. */
    rootVolumeGiB: int(30, 16_384).default(100),
    /**
     * Availability zones of a new VPC. Default: the region's first three (an environment-agnostic
     * stack would otherwise get two). Set it for regions with fewer usable AZs.
     */
    availabilityZones: z
      .preprocess(
        fromString('list'),
        z
          .array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'expected an AZ name such as eu-west-1a'))
          .min(2)
          .max(6),
      )
      .optional(),
    /** Batch attempts per array child (Spot reclaims and host failures are retried). Default: 3. */
    jobAttempts: int(1, 10).default(3),
    /** Batch job timeout per attempt, minutes. Default: 120. */
    jobTimeoutMinutes: int(5, 24 * 60).default(120),
    /** Days to keep the run's work files (work/, runs/) in S3. Default: 7. */
    workRetentionDays: int(1, 3650).default(7),
    /** Days to keep sequence and embedding snapshots (sequences/, embeddings/) in S3. Default: 35. */
    snapshotRetentionDays: int(2, 3650).default(35),
    /** CloudWatch Logs retention of every function and the Batch job, days. Default: 30. */
    logRetentionDays: int(1, 3653)
      .refine((days) => LOG_RETENTION_DAYS.includes(days), `expected one of ${LOG_RETENTION_DAYS.join(', ')}`)
      .default(30),
    /**
     * Refuse to run a day whose `events/dt=D/` has no `_SUCCESS` marker (the Hive/Spark convention:
     * the day's writer puts it last), so a day still being written never publishes part of itself.
     * Default: false.
     */
    requireSuccessMarker: bool().default(false),
    /** Users whose newest embedding is older than this are re-embedded. Default: 7. */
    refreshAgeDays: limited(REFRESH_AGE_DAYS),
    /** Days an embedding item lives after its date (DynamoDB TTL); must exceed refreshAgeDays + 1. Default: 30. */
    embeddingRetentionDays: int(2, 3650).default(DEFAULT_RETENTION_DAYS),
    /**
     * The write policy (docs/versioning.md, "Write policy"): a re-embedded user whose stored
     * embedding is within this cosine of the new one keeps serving the stored item and is not
     * written; `off` writes every embedded user. A cosine in (0, 1]. Default: 0.95, the threshold
     * the bench measured as free (reports/bench.md, "Write policy").
     */
    writeSkipCosine: z
      .preprocess(
        (value) => (value === 'off' || value === 'false' ? false : fromString('number')(value)),
        z.union([z.literal(false), z.number().gt(0).max(WRITE_SKIP_COSINE.max)]),
      )
      .default(WRITE_SKIP_COSINE.default),
    /**
     * State compaction (docs/versioning.md, "State: deltas and compaction"): each partition writes
     * a full snapshot of its users at least every this many days, staggered so that about 1/n of
     * the partitions compact on any day; deltas of the changed users between. 1 = full daily. Default: 7.
     */
    compactEveryDays: limited(COMPACT_EVERY_DAYS),
    /** A partition compacts sooner when its deltas hold more than this share of its base's bytes. Default: 0.5. */
    compactDeltaShare: z
      .preprocess(fromString('number'), z.number().gt(0).max(COMPACT_DELTA_SHARE.max))
      .default(COMPACT_DELTA_SHARE.default),
    /**
     * Write units per second the daily run may use of the embeddings table. Each Batch lane is
     * paced to its share, this ÷ the lanes `maxVcpus` lets run at once, so that the children
     * together stay within the table's quota and do not throttle each other (docs/scale.md,
     * "Pacing writes across Batch children"). Default: 32,000, 80% of DynamoDB on-demand's default
     * per-table quota of 40,000; raise it with the table's quota.
     */
    runWriteUnitsPerSecond: limited(RUN_WRITE_UNITS_PER_SECOND),
    /**
     * Pre-warm the embeddings table to this many write units per second (a one-time DynamoDB
     * charge). A new on-demand table serves 4,000 at once and doubles its previous peak within
     * 30 minutes, so a first backfill paced at `runWriteUnitsPerSecond` above that is throttled
     * (the store backs off and retries) until the table has scaled; set this to
     * `runWriteUnitsPerSecond` before a large first backfill (docs/deploy.md). Default: none.
     */
    tableWarmWriteUnitsPerSecond: int(4_000, 10_000_000).optional(),
    /** Stored vector dtype. float16 fits a 256-d vector and its keys in one write unit. Default: float16. */
    embeddingDtype: z.enum(['float16', 'float32']).default('float16'),
    /**
     * Batch image built and pushed elsewhere (CI), pinned by digest so every child of every run
     * runs the same bytes; absent = build batch-container/Dockerfile as a CDK asset at deploy.
     */
    imageUri: z
      .string()
      .regex(
        /^[a-z0-9.-]+(:[0-9]+)?\/[a-z0-9._/-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$/,
        'expected an image pinned by digest, <registry>/<repository>[:tag]@sha256:<64 hex digits> (the digest `docker push` or `aws ecr describe-images` prints); a tag alone can move',
      )
      .optional(),
    /** Existing VPC to run Batch in (its private subnets); absent = a new VPC. */
    vpcId: z
      .string()
      .regex(/^vpc-[0-9a-f]{8,17}$/, 'expected a VPC id such as vpc-0123456789abcdef0')
      .optional(),
    /** Lookup endpoint: a Lambda Function URL with AWS_IAM auth, or API Gateway with IAM auth. */
    lookupAuth: z.enum(['function-url-iam', 'api-gateway-iam']).default('function-url-iam'),
    /**
     * Reserved concurrency of the lookup function, so a lookup storm cannot starve the daily run's
     * Lambdas (0 = none: share the account pool, e.g. in an account whose limit is too low to
     * reserve any). Default: 20.
     */
    lookupReservedConcurrency: int(0, 10_000).default(20),
    /** Provisioned concurrency of the lookup function's `live` alias (absent = none). */
    lookupProvisionedConcurrency: int(1, 10_000).optional(),
    /** Lookup p99 latency alarm threshold, milliseconds. Default: 250. */
    lookupP99AlarmMs: int(1, 30_000).default(250),
    /** Partition failure rate (percent of partitions embedded in the last hour) that alarms. Default: 5. */
    partitionFailureAlarmPercent: int(1, 100).default(5),
    /** Email subscribed to the alarm topic (absent = subscribe later). */
    alarmEmail: z.email().optional(),
  })
  .strict();

export type DeploymentConfig = z.output<typeof DeploymentConfigSchema>;
export type DeploymentConfigInput = z.input<typeof DeploymentConfigSchema>;

/** The context key holding the config object in cdk.json. */
export const CONFIG_CONTEXT_KEY = 'pinnerformer';

/** Validates a raw config; throws ValidationError naming every bad key. */
export function parseDeploymentConfig(raw: unknown): DeploymentConfig {
  const result = DeploymentConfigSchema.safeParse(raw ?? {});
  const problems = result.success ? runProblems(result.data) : formatIssues(result.error.issues, '(root)');
  if (result.success && problems.length === 0) {
    assertRefreshWithinRetention(result.data.refreshAgeDays, result.data.embeddingRetentionDays);
    return result.data;
  }
  throw new ValidationError(
    `invalid PinnerFormer deployment config (cdk.json context "${CONFIG_CONTEXT_KEY}" or -c overrides):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    { problems },
  );
}

/** Settings that parse one by one but together could never run. */
function runProblems(config: DeploymentConfig): string[] {
  const { partitions, partitionsPerJob } = config;
  const problems = placementProblems(config.instanceTypes, config.maxVcpus, partitionsPerJob);
  if (arraySizeOf(partitions, partitionsPerJob) < BATCH_ARRAY_SIZE.min) {
    problems.push(
      `partitionsPerJob (${partitionsPerJob}) must be below partitions (${partitions}): a Batch array job has at least ${BATCH_ARRAY_SIZE.min} children`,
    );
  }
  if (config.trigger === 'completion-marker' && config.scheduleEnabled) {
    problems.push('scheduleEnabled must be false with trigger=completion-marker: one day would start two runs');
  }
  return problems;
}

/** Reads the context object and lets `-c key=value` override single keys. */
export function readDeploymentConfig(tryGetContext: (key: string) => unknown): DeploymentConfig {
  const base = tryGetContext(CONFIG_CONTEXT_KEY);
  if (base !== undefined && (typeof base !== 'object' || base === null || Array.isArray(base))) {
    throw new ValidationError(`cdk.json context "${CONFIG_CONTEXT_KEY}" must be an object`);
  }
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown> | undefined) };
  for (const key of Object.keys(DeploymentConfigSchema.shape)) {
    const override = tryGetContext(key);
    if (override !== undefined) merged[key] = override;
  }
  return parseDeploymentConfig(merged);
}
