/**
 * Sizing the daily run for a user count: partitions, Batch array shape, slices, Map kind and the
 * write pace of each Batch lane, chosen to stay within the AWS quotas below, with each quota's use
 * and the one that binds first (docs/scale.md). A quota the design cannot keep (the S3 fan-out
 * beyond about 10,000 children) shows as a use above 100%. Pure: the per-user figures come from the caller (the bench feeds the
 * ones it measured, reports/bench.json), the quotas from AWS_LIMITS.
 */
import {
  BATCH_ARRAY_SIZE,
  DYNAMODB_TABLE_WRITE_QUOTA,
  lanePace,
  RUN_WRITE_UNITS_PER_SECOND,
} from '../contract/run-contract.ts';
import { ValidationError } from '../util/errors.ts';

/** AWS default quotas the plan respects (us-east-1; the adjustable ones can be raised by request). */
export const AWS_LIMITS = {
  /** DynamoDB on-demand: maximum write request units per second of one table (default, adjustable). */
  dynamoTableWriteUnitsPerSecond: DYNAMODB_TABLE_WRITE_QUOTA,
  /** DynamoDB: account-level write capacity units per second across tables (default, adjustable). */
  dynamoAccountWriteUnitsPerSecond: 80_000,
  /** AWS Batch: children of one array job (the run contract's limit). */
  batchArraySize: BATCH_ARRAY_SIZE.max,
  /** Step Functions standard workflow: events in one execution's history. */
  stepFunctionsHistoryEvents: 25_000,
  /** Step Functions: iterations an inline Map state runs at once. */
  inlineMapConcurrency: 40,
  /** Step Functions: child executions a Distributed Map runs at once. */
  distributedMapConcurrency: 10_000,
  /** Lambda: concurrent executions per account and region (default, adjustable). */
  lambdaConcurrency: 1_000,
  /** Lambda: longest invocation, seconds. */
  lambdaTimeoutSeconds: 900,
  /** S3: PUT/COPY/POST/DELETE requests per second per partitioned prefix. */
  s3PutsPerSecondPerPrefix: 3_500,
} as const;

/** History events of one inline Map iteration that runs one Lambda task (started, scheduled, …, succeeded). */
export const HISTORY_EVENTS_PER_ITERATION = 7;
/** History events of the rest of a daily execution (plan, Batch, publish, retries): kept free. */
export const HISTORY_EVENTS_RESERVED = 500;
/** Share of one prefix's PUT rate the partition stage's work files may use. */
export const S3_PUT_SHARE = 0.5;

/** Per-user figures of the pipeline, as measured (bench) or assumed. */
export interface UserFigures {
  /** Share of users the day embeds (active plus refreshed), 0..1. */
  readonly embeddedShare: number;
  /** GPU seconds per embedded user (paper-size model on the container's GPU). */
  readonly gpuSecondsPerUser: number;
  /** CPU seconds per embedded user outside inference (featurize, table client, output). */
  readonly cpuSecondsPerEmbeddedUser: number;
  /** CPU seconds per user of a partition, embedded or not (read, merge, snapshot re-encoding or its amortised compaction). */
  readonly cpuSecondsPerPartitionUser: number;
  /** Bytes a lane holds per user of its partition (snapshots decoded, columns, vectors). */
  readonly memoryBytesPerUser: number;
  /** Event-file bytes of the day per embedded user. */
  readonly eventBytesPerUser: number;
  /** Partition-stage (Lambda) seconds per event-file byte. */
  readonly partitionSecondsPerByte: number;
  /** DynamoDB write units per written user (1 for a 256-d fp16 item). */
  readonly writeUnitsPerUser: number;
  /** Share of embedded users whose write the write policy skips, 0..1; default 0. */
  readonly writeSkipShare?: number;
}

export interface SizingInput {
  readonly totalUsers: number;
  readonly figures: UserFigures;
  /** Lanes (partitions) per Batch child, each 4 vCPUs + 14 GiB; default 4 (g5.4xlarge). */
  readonly partitionsPerJob?: number;
  /** GPU containers the compute environment may run at once; default as many as the write quota keeps busy. */
  readonly maxContainers?: number;
  /** vCPUs of one child (4 per lane); default 4 × partitionsPerJob. */
  readonly vcpusPerChild?: number;
  /** Memory a lane may fill with its partition, bytes; default 7 GiB (half the lane's 14 GiB). */
  readonly laneMemoryBytes?: number;
  /** Share of the table's write quota the run may use (the rest for other writers, bursts); default the stack's, 0.8. */
  readonly writeHeadroom?: number;
  /** Share of the Lambda timeout a slice may take; default 0.5. */
  readonly sliceTimeShare?: number;
  /** Share of the account's Lambda concurrency the Map may take; default 0.5. */
  readonly lambdaShare?: number;
  /** Largest slice, bytes; default 64 MiB (src/pipeline/plan.ts). */
  readonly maxSliceBytes?: number;
}

export interface LimitUse {
  readonly name: string;
  readonly limit: number;
  readonly used: number;
  /** used / limit */
  readonly utilization: number;
}

export interface SizingPlan {
  readonly totalUsers: number;
  readonly embeddedUsers: number;
  readonly writtenUsers: number;
  readonly partitions: number;
  readonly partitionsPerJob: number;
  readonly arraySize: number;
  /** Array jobs of `arraySize` children each (more than one only beyond the Batch array size). */
  readonly arrayJobs: number;
  readonly usersPerPartition: number;
  readonly containers: number;
  readonly vcpus: number;
  readonly sliceBytes: number;
  readonly slices: number;
  readonly sliceSeconds: number;
  readonly mapKind: 'inline' | 'distributed';
  readonly mapConcurrency: number;
  /** Write units per second each lane may use, so that all lanes together stay within the table's share. */
  readonly writeUnitsPerSecondPerLane: number;
  /** Write units per second the whole run sustains (its written users over the embed stage). */
  readonly writeUnitsPerSecond: number;
  readonly seconds: {
    readonly partitionStage: number;
    /** Embed stage: the slowest of GPU, lane CPU and the table's write pace. */
    readonly embedStage: number;
    readonly embedBoundBy: 'gpu' | 'cpu' | 'writes';
    /**
     * Lane CPU seconds that follow every user of the partition, not the embedded ones (reading the
     * previous state, selection, amortised compaction): part of the embed stage's CPU, shown
     * apart because it is the one cost that does not shrink with the active share.
     */
    readonly allUsersCpu: number;
    readonly total: number;
  };
  /** Work files the partition stage writes (one per slice and partition): S3 PUTs. */
  readonly workFiles: number;
  readonly limits: readonly LimitUse[];
  /** The limit with the highest utilization. */
  readonly binding: LimitUse;
}

const GIB = 1024 ** 3;

function positive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new ValidationError(`sizing: ${name} must be a positive number, got ${value}`, { [name]: value });
  }
}

/** Partitions and Batch arrays: each lane's partition fits its memory, children are whole and within the array size. */
function arrayShape(input: SizingInput, lanes: number) {
  const usersPerLaneMax = Math.floor((input.laneMemoryBytes ?? 7 * GIB) / input.figures.memoryBytesPerUser);
  const wanted = Math.max(2, Math.ceil(input.totalUsers / usersPerLaneMax));
  // whole children, at least 2 (a Batch array has at least 2); beyond the array size, several array jobs
  const children = Math.max(2, Math.ceil(wanted / lanes));
  const arrayJobs = Math.ceil(children / AWS_LIMITS.batchArraySize);
  const arraySize = Math.ceil(children / arrayJobs);
  const partitions = arraySize * arrayJobs * lanes;
  return { partitions, arraySize, arrayJobs, usersPerPartition: Math.ceil(input.totalUsers / partitions) };
}

/**
 * The embed stage: containers enough to keep the table's write share busy (more would only wait on
 * writes), each lane paced to its share, and the stage's time as the slowest of GPU, CPU and writes.
 */
function embedStagePlan(input: SizingInput, lanes: number, shape: ReturnType<typeof arrayShape>) {
  const f = input.figures;
  const L = AWS_LIMITS;
  const headroom = input.writeHeadroom ?? RUN_WRITE_UNITS_PER_SECOND.default / L.dynamoTableWriteUnitsPerSecond;
  const embedded = Math.ceil(input.totalUsers * f.embeddedShare);
  const written = Math.ceil(embedded * (1 - (f.writeSkipShare ?? 0)));
  // the table's share, in users a second; a lane embeds (and writes) at its own pace
  const tableUsersPerSecond = (L.dynamoTableWriteUnitsPerSecond * headroom) / f.writeUnitsPerUser;
  const embeddedPerWrite = written === 0 ? Number.POSITIVE_INFINITY : embedded / written;
  // a lane's CPU re-encodes every user of its partition, so per embedded user it also pays 1/embeddedShare of those
  const laneUsersPerSecond = 1 / (f.cpuSecondsPerEmbeddedUser + f.cpuSecondsPerPartitionUser / f.embeddedShare);
  const containerUsersPerSecond = Math.min(1 / f.gpuSecondsPerUser, lanes * laneUsersPerSecond);
  const usefulContainers = Math.max(1, Math.ceil((tableUsersPerSecond * embeddedPerWrite) / containerUsersPerSecond));
  const containers = Math.min(shape.arraySize * shape.arrayJobs, input.maxContainers ?? usefulContainers);
  const concurrentLanes = containers * lanes;
  const writeUnitsPerSecondPerLane = lanePace(L.dynamoTableWriteUnitsPerSecond * headroom, concurrentLanes);
  const gpuSeconds = (embedded * f.gpuSecondsPerUser) / containers;
  const allUsersCpu = (input.totalUsers * f.cpuSecondsPerPartitionUser) / concurrentLanes;
  const cpuSeconds = (embedded * f.cpuSecondsPerEmbeddedUser) / concurrentLanes + allUsersCpu;
  const writeSeconds = (written * f.writeUnitsPerUser) / (writeUnitsPerSecondPerLane * concurrentLanes);
  const embedStage = Math.max(gpuSeconds, cpuSeconds, writeSeconds);
  const embedBoundBy: SizingPlan['seconds']['embedBoundBy'] =
    embedStage === writeSeconds ? 'writes' : embedStage === gpuSeconds ? 'gpu' : 'cpu';
  return {
    embedded,
    written,
    containers,
    vcpus: containers * (input.vcpusPerChild ?? 4 * lanes),
    writeUnitsPerSecondPerLane,
    writeUnitsPerSecond: (written * f.writeUnitsPerUser) / embedStage,
    embedStage,
    embedBoundBy,
    allUsersCpu,
  };
}

/** The partition stage: byte-bounded slices, each within its share of the Lambda timeout, and the Map that runs them. */
function partitionStagePlan(input: SizingInput, embedded: number, partitions: number) {
  const f = input.figures;
  const L = AWS_LIMITS;
  const eventBytes = embedded * f.eventBytesPerUser;
  const sliceBytes = Math.min(
    input.maxSliceBytes ?? 64 * 1024 * 1024,
    Math.floor(((input.sliceTimeShare ?? 0.5) * L.lambdaTimeoutSeconds) / f.partitionSecondsPerByte),
  );
  const slices = Math.max(1, Math.ceil(eventBytes / sliceBytes));
  const sliceSeconds = Math.min(sliceBytes, eventBytes) * f.partitionSecondsPerByte;
  const inlineIterations = Math.floor(
    (L.stepFunctionsHistoryEvents - HISTORY_EVENTS_RESERVED) / HISTORY_EVENTS_PER_ITERATION,
  );
  const mapKind: SizingPlan['mapKind'] = slices <= inlineIterations ? 'inline' : 'distributed';
  const lambdaBudget = Math.floor(L.lambdaConcurrency * (input.lambdaShare ?? 0.5));
  // each slice writes one work file per partition under the day's prefix, which S3 splits only
  // gradually (503 SlowDown meanwhile): pace the Map to half the PUT rate of one prefix
  const putPaced = Math.floor((L.s3PutsPerSecondPerPrefix * S3_PUT_SHARE * sliceSeconds) / partitions);
  const mapConcurrency = Math.max(
    1,
    Math.min(
      slices,
      lambdaBudget,
      mapKind === 'inline' ? L.inlineMapConcurrency : L.distributedMapConcurrency,
      putPaced,
    ),
  );
  const partitionStage = Math.ceil(slices / mapConcurrency) * sliceSeconds;
  return { sliceBytes, slices, sliceSeconds, mapKind, mapConcurrency, workFiles: slices * partitions, partitionStage };
}

/** Each quota's use by the plan. */
function limitUses(
  shape: ReturnType<typeof arrayShape>,
  embed: ReturnType<typeof embedStagePlan>,
  stage: ReturnType<typeof partitionStagePlan>,
): LimitUse[] {
  const L = AWS_LIMITS;
  const use = (name: string, limit: number, used: number): LimitUse => ({
    name,
    limit,
    used,
    utilization: used / limit,
  });
  return [
    use('DynamoDB on-demand table write units/s', L.dynamoTableWriteUnitsPerSecond, embed.writeUnitsPerSecond),
    use('DynamoDB account write units/s', L.dynamoAccountWriteUnitsPerSecond, embed.writeUnitsPerSecond),
    use('Batch array size', L.batchArraySize, shape.arraySize),
    use(
      'Step Functions history events',
      L.stepFunctionsHistoryEvents,
      HISTORY_EVENTS_RESERVED + (stage.mapKind === 'inline' ? stage.slices * HISTORY_EVENTS_PER_ITERATION : 0),
    ),
    use('Lambda concurrency', L.lambdaConcurrency, stage.mapConcurrency),
    use('Lambda timeout s (slice)', L.lambdaTimeoutSeconds, stage.sliceSeconds),
    use(
      'S3 PUT/s per prefix (work files over the partition stage)',
      L.s3PutsPerSecondPerPrefix,
      stage.workFiles / Math.max(1, stage.partitionStage),
    ),
  ];
}

/**
 * The plan for `totalUsers`. Partitions are as many as keep each lane's partition within its
 * memory, rounded up to whole children; children beyond the Batch array size go into several
 * array jobs of equal size. Containers are as many as keep the table's write share busy (more
 * would only wait on writes), and each lane is paced to its share of that. Slices are cut so that
 * one takes at most `sliceTimeShare` of the Lambda timeout; beyond what an inline Map's history
 * holds, the Map is a Distributed Map.
 */
export function sizeDailyRun(input: SizingInput): SizingPlan {
  const f = input.figures;
  positive('totalUsers', input.totalUsers);
  for (const [k, v] of Object.entries(f)) if (k !== 'writeSkipShare') positive(k, v as number);
  const skip = f.writeSkipShare ?? 0;
  if (!(skip >= 0 && skip < 1)) throw new ValidationError(`sizing: writeSkipShare must be in [0, 1), got ${skip}`);
  const lanes = input.partitionsPerJob ?? 4;
  const shape = arrayShape(input, lanes);
  const embed = embedStagePlan(input, lanes, shape);
  const stage = partitionStagePlan(input, embed.embedded, shape.partitions);
  const limits = limitUses(shape, embed, stage);
  return {
    totalUsers: input.totalUsers,
    embeddedUsers: embed.embedded,
    writtenUsers: embed.written,
    partitions: shape.partitions,
    partitionsPerJob: lanes,
    arraySize: shape.arraySize,
    arrayJobs: shape.arrayJobs,
    usersPerPartition: shape.usersPerPartition,
    containers: embed.containers,
    vcpus: embed.vcpus,
    sliceBytes: stage.sliceBytes,
    slices: stage.slices,
    sliceSeconds: stage.sliceSeconds,
    mapKind: stage.mapKind,
    mapConcurrency: stage.mapConcurrency,
    writeUnitsPerSecondPerLane: embed.writeUnitsPerSecondPerLane,
    writeUnitsPerSecond: embed.writeUnitsPerSecond,
    seconds: {
      partitionStage: stage.partitionStage,
      embedStage: embed.embedStage,
      embedBoundBy: embed.embedBoundBy,
      allUsersCpu: embed.allUsersCpu,
      total: stage.partitionStage + embed.embedStage,
    },
    workFiles: stage.workFiles,
    limits,
    binding: limits.reduce((a, b) => (b.utilization > a.utilization ? b : a)),
  };
}
