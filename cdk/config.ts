/**
 * Deployment configuration of the PinnerFormer stack: typed, validated with zod, read from the
 * `pinnerformer` object in cdk.json's context and overridable one key at a time with
 * `npx cdk deploy -c partitions=32 -c spot=false`. Every field has a documented default.
 */
import { z } from 'zod';
import { assertRefreshWithinRetention, DEFAULT_RETENTION_DAYS } from '../src/embeddings/table-schema.ts';
import { ValidationError } from '../src/util/errors.ts';
import { DEFAULT_STACK_NAME } from './outputs.ts';

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
const bool = () => z.preprocess(fromString('boolean'), z.boolean());

/** An EC2 instance family (`g5`) or size (`g6.2xlarge`) with NVIDIA GPUs. */
const gpuInstanceType = z
  .string()
  .regex(
    /^(g4dn|g5|g5g|g6|g6e|gr6|p3|p4d|p5)(\.[0-9]*x?large)?$/,
    'expected a GPU instance family or type, e.g. g5 or g6.xlarge',
  );

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
    /** Whether the schedule starts runs; turn off to run only by hand. Default: true. */
    scheduleEnabled: bool().default(true),
    /** Partition count of the daily run = Batch array size (2..10000). Fixed per deployment. Default: 16. */
    partitions: int(2, 10_000).default(16),
    /**
     * Partitions one Batch array child embeds at once, one lane each (its own GPU session, CPU
     * threads and 4 vCPUs + 14 GiB), so the child's CPU work keeps pace with its one GPU; must be
     * below `partitions` (Batch arrays have at least 2 children). Default: 2 (8 vCPUs, g5.2xlarge:
     * docs/deploy.md, reports/bench.md section 3).
     */
    partitionsPerJob: int(1, 16).default(2),
    /** Concurrent partition-stage Lambdas in the Map state. Default: 32. */
    mapMaxConcurrency: int(1, 1000).default(32),
    /** GPU instance families or types for Batch. Default: g5 and g6. */
    instanceTypes: z.preprocess(fromString('list'), z.array(gpuInstanceType).min(1)).default(['g5', 'g6']),
    /** Upper bound of the Batch compute environments' vCPUs (it scales to zero when idle). Default: 64. */
    maxVcpus: int(4, 10_000).default(64),
    /** Run on Spot first, with an on-demand environment behind it in the queue. Default: true. */
    spot: bool().default(true),
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
    refreshAgeDays: int(1, 365).default(7),
    /** Days an embedding item lives after its date (DynamoDB TTL); must exceed refreshAgeDays + 1. Default: 30. */
    embeddingRetentionDays: int(2, 3650).default(DEFAULT_RETENTION_DAYS),
    /** Stored vector dtype. float16 fits a 256-d vector and its keys in one write unit. Default: float16. */
    embeddingDtype: z.enum(['float16', 'float32']).default('float16'),
    /** Batch image: absent = build batch-container/Dockerfile as a CDK asset; else this image URI. */
    imageUri: z
      .string()
      .regex(
        /^[a-z0-9.-]+(:[0-9]+)?\/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/,
        'expected an image URI with a tag or digest',
      )
      .optional(),
    /** Existing VPC to run Batch in (its private subnets); absent = a new VPC. */
    vpcId: z
      .string()
      .regex(/^vpc-[0-9a-f]{8,17}$/, 'expected a VPC id such as vpc-0123456789abcdef0')
      .optional(),
    /** Lookup endpoint: a Lambda Function URL with AWS_IAM auth, or API Gateway with IAM auth. */
    lookupAuth: z.enum(['function-url-iam', 'api-gateway-iam']).default('function-url-iam'),
    /** Reserved concurrency of the lookup function (absent = account pool). */
    lookupReservedConcurrency: int(1, 10_000).optional(),
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
  if (result.success) {
    assertRefreshWithinRetention(result.data.refreshAgeDays, result.data.embeddingRetentionDays);
    const { partitions, partitionsPerJob } = result.data;
    if (partitionsPerJob >= partitions) {
      throw new ValidationError(
        `invalid PinnerFormer deployment config: partitionsPerJob (${partitionsPerJob}) must be below partitions (${partitions}): a Batch array job has at least 2 children`,
        { partitions, partitionsPerJob },
      );
    }
    return result.data;
  }
  const problems = result.error.issues.map((issue) => `  - ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new ValidationError(
    `invalid PinnerFormer deployment config (cdk.json context "${CONFIG_CONTEXT_KEY}" or -c overrides):\n${problems.join('\n')}`,
    { issues: result.error.issues },
  );
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
