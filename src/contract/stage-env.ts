/**
 * The stage environment: the variables CDK sets on the Lambdas and the Batch job, their names and
 * defaults, and the schemas the handlers and the worker parse them with. CDK builds the values
 * with `stageEnvironment`; nothing else spells a variable name.
 */
import { z } from 'zod';
import { DEFAULT_RETENTION_DAYS } from '../embeddings/table-schema.ts';
import { modelVersionSchema, runDateSchema } from './messages.ts';
import {
  arraySizeOf,
  COMPACT_DELTA_SHARE,
  COMPACT_EVERY_DAYS,
  PARTITIONS,
  PARTITIONS_PER_JOB,
  parseWith,
  REFRESH_AGE_DAYS,
  RUN_TIMEOUT_MS,
  WRITE_SKIP_COSINE,
} from './run-contract.ts';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const positiveInt = z.coerce.number().int().positive();
const dtype = z.enum(['float16', 'float32']);

/** Values every stage may be given; CDK passes each stage only the ones it uses. */
export interface StageValues {
  readonly objectStoreUri?: string;
  readonly tableName?: string;
  readonly partitions?: number;
  readonly partitionsPerJob?: number;
  readonly refreshAgeDays?: number;
  readonly embeddingDtype?: 'float16' | 'float32';
  readonly embeddingRetentionDays?: number;
  readonly runLockLeaseMs?: number;
  /** Refuse a day without events/dt=D/_SUCCESS (cdk config requireSuccessMarker). */
  readonly requireSuccessMarker?: boolean;
  /** The write policy's threshold (cdk config writeSkipCosine); absent: every embedded user is written. */
  readonly writeSkipCosine?: number;
  /** A full snapshot per partition at least every this many days (cdk config compactEveryDays). */
  readonly compactEveryDays?: number;
  /** Compact a partition sooner when its deltas exceed this share of its base (cdk config compactDeltaShare). */
  readonly compactDeltaShare?: number;
  /** Each Batch lane's write budget (lanePace of cdk config runWriteUnitsPerSecond); absent: unpaced. */
  readonly writeUnitsPerSecondPerLane?: number;
}

/** Variable name of each StageValues field. */
export const STAGE_ENV_NAMES = {
  objectStoreUri: 'OBJECT_STORE_URI',
  tableName: 'TABLE_NAME',
  partitions: 'PARTITIONS',
  partitionsPerJob: 'PARTITIONS_PER_JOB',
  refreshAgeDays: 'REFRESH_AGE_DAYS',
  embeddingDtype: 'EMBEDDING_DTYPE',
  embeddingRetentionDays: 'EMBEDDING_RETENTION_DAYS',
  runLockLeaseMs: 'RUN_LOCK_LEASE_MS',
  requireSuccessMarker: 'REQUIRE_SUCCESS_MARKER',
  writeSkipCosine: 'WRITE_SKIP_COSINE',
  compactEveryDays: 'COMPACT_EVERY_DAYS',
  compactDeltaShare: 'COMPACT_DELTA_SHARE',
  writeUnitsPerSecondPerLane: 'WRITE_UNITS_PER_SECOND_PER_LANE',
} as const satisfies Record<keyof StageValues, string>;

/** Per-run variables the state machine sets on each Batch child (container overrides). */
export const RUN_ENV_NAMES = { date: 'RUN_DATE', modelVersion: 'MODEL_VERSION', partitions: 'PARTITIONS' } as const;

/** The environment variables for `values` (absent values are left out: the stage default applies). */
export function stageEnvironment(values: StageValues): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [field, name] of Object.entries(STAGE_ENV_NAMES)) {
    const value = values[field as keyof StageValues];
    if (value !== undefined) env[name] = String(value);
  }
  return env;
}

/** What a Lambda handler reads; DYNAMODB_ENDPOINT only in tests and local runs. */
const HandlerSettingsSchema = z.object({
  OBJECT_STORE_URI: z.string().min(1).optional(),
  TABLE_NAME: z.string().min(1).optional(),
  PARTITIONS: int(PARTITIONS.min, PARTITIONS.max).default(PARTITIONS.default),
  PARTITIONS_PER_JOB: int(PARTITIONS_PER_JOB.min, PARTITIONS_PER_JOB.max).default(PARTITIONS_PER_JOB.default),
  REFRESH_AGE_DAYS: int(REFRESH_AGE_DAYS.min, REFRESH_AGE_DAYS.max).default(REFRESH_AGE_DAYS.default),
  EMBEDDING_DTYPE: dtype.default('float16'),
  EMBEDDING_RETENTION_DAYS: positiveInt.default(DEFAULT_RETENTION_DAYS),
  /** Run-lock lease: the state machine's timeout, so a crashed run blocks its version no longer. */
  RUN_LOCK_LEASE_MS: positiveInt.default(RUN_TIMEOUT_MS),
  /** Refuse a day without events/dt=D/_SUCCESS (the writer has not finished). */
  REQUIRE_SUCCESS_MARKER: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /**
   * The write policy's threshold, read by the plan, which puts it and the dates it may keep in
   * the run manifest; the embed stage applies it from there. Absent: every embedded user is written.
   */
  WRITE_SKIP_COSINE: z.coerce.number().gt(0).max(WRITE_SKIP_COSINE.max).optional(),
  /**
   * Compaction, read by the plan, which decides per partition whether the run writes a full
   * snapshot or a delta and records it in the run manifest; the embed stage follows the manifest.
   */
  COMPACT_EVERY_DAYS: int(COMPACT_EVERY_DAYS.min, COMPACT_EVERY_DAYS.max).default(COMPACT_EVERY_DAYS.default),
  COMPACT_DELTA_SHARE: z.coerce.number().gt(0).max(COMPACT_DELTA_SHARE.max).default(COMPACT_DELTA_SHARE.default),
  DYNAMODB_ENDPOINT: z.url().optional(),
});
export type HandlerSettings = z.output<typeof HandlerSettingsSchema>;

export function readHandlerSettings(env: NodeJS.ProcessEnv): HandlerSettings {
  return parseWith(HandlerSettingsSchema, env, 'function configuration');
}

/** What a Batch child reads: the stage environment plus the run's variables and its array index. */
const WorkerEnvSchema = z
  .object({
    RUN_DATE: runDateSchema,
    MODEL_VERSION: modelVersionSchema,
    AWS_BATCH_JOB_ARRAY_INDEX: z.coerce.number().int().min(0),
    PARTITIONS: int(PARTITIONS.min, PARTITIONS.max),
    PARTITIONS_PER_JOB: int(PARTITIONS_PER_JOB.min, PARTITIONS_PER_JOB.max).default(PARTITIONS_PER_JOB.default),
    OBJECT_STORE_URI: z.string().min(1),
    TABLE_NAME: z.string().min(1),
    EXECUTION_PROVIDER: z.enum(['cpu', 'cuda']).default('cuda'),
    EMBEDDING_DTYPE: dtype.default('float16'),
    EMBEDDING_RETENTION_DAYS: positiveInt.default(DEFAULT_RETENTION_DAYS),
    /** Each lane's share of the run's write units per second (run-contract lanePace, set by the stack); absent: unpaced. */
    WRITE_UNITS_PER_SECOND_PER_LANE: z.coerce.number().positive().optional(),
    /** Local runs and tests only. */
    DYNAMODB_ENDPOINT: z.url().optional(),
  })
  .refine((s) => s.AWS_BATCH_JOB_ARRAY_INDEX < arraySizeOf(s.PARTITIONS, s.PARTITIONS_PER_JOB), {
    message: 'AWS_BATCH_JOB_ARRAY_INDEX must be below the array size, ceil(PARTITIONS / PARTITIONS_PER_JOB)',
    path: ['AWS_BATCH_JOB_ARRAY_INDEX'],
  });
export type WorkerEnv = z.output<typeof WorkerEnvSchema>;

export function readWorkerEnv(env: NodeJS.ProcessEnv): WorkerEnv {
  return parseWith(WorkerEnvSchema, env, 'worker environment');
}
