/** The daily run's sizing (src/pipeline/sizing.ts): every size stays within every AWS quota. */
import { describe, expect, it } from 'vitest';
import { maxConcurrentLanes } from '../cdk/instance-sizes.ts';
import { lanePace, RUN_WRITE_UNITS_PER_SECOND } from '../src/contract/run-contract.ts';
import { AWS_LIMITS, sizeDailyRun, type UserFigures } from '../src/pipeline/sizing.ts';
import { ValidationError } from '../src/util/errors.ts';

/** Figures of the order the bench measures (reports/bench.json); the tests vary them. */
const FIGURES: UserFigures = {
  embeddedShare: 0.3,
  gpuSecondsPerUser: 4.9e-4,
  cpuSecondsPerEmbeddedUser: 2.9e-3,
  cpuSecondsPerPartitionUser: 6.3e-5,
  memoryBytesPerUser: 9_500,
  eventBytesPerUser: 300,
  partitionSecondsPerByte: 2.5e-8,
  writeUnitsPerUser: 1,
};

describe('sizeDailyRun', () => {
  for (const totalUsers of [10e6, 100e6, 1e9]) {
    for (const embeddedShare of [0.1, 0.3]) {
      it(`keeps ${totalUsers / 1e6}M users at ${embeddedShare * 100}% active within every quota`, () => {
        const plan = sizeDailyRun({ totalUsers, figures: { ...FIGURES, embeddedShare } });
        for (const limit of plan.limits) expect(limit.utilization, limit.name).toBeLessThanOrEqual(1);
        expect(plan.arraySize).toBeLessThanOrEqual(AWS_LIMITS.batchArraySize);
        expect(plan.partitions % plan.partitionsPerJob).toBe(0);
        expect(plan.usersPerPartition * FIGURES.memoryBytesPerUser).toBeLessThanOrEqual(7 * 1024 ** 3);
        expect(plan.sliceSeconds).toBeLessThanOrEqual(AWS_LIMITS.lambdaTimeoutSeconds / 2 + 1e-6);
        // the lanes' paced writes together stay within the run's share of the table
        const lanes = plan.containers * plan.partitionsPerJob;
        expect(plan.writeUnitsPerSecondPerLane * lanes).toBeLessThanOrEqual(
          AWS_LIMITS.dynamoTableWriteUnitsPerSecond * 0.8,
        );
        expect(plan.binding.utilization).toBe(Math.max(...plan.limits.map((l) => l.utilization)));
        expect(plan.seconds.total).toBeLessThan(24 * 3600); // a day's run finishes within the day
      });
    }
  }

  it('adds partitions with the users, and the table write quota binds at a billion', () => {
    const small = sizeDailyRun({ totalUsers: 10e6, figures: FIGURES });
    const large = sizeDailyRun({ totalUsers: 1e9, figures: FIGURES });
    expect(large.partitions).toBeGreaterThan(50 * small.partitions);
    expect(large.binding.name).toMatch(/DynamoDB on-demand table/);
    expect(large.seconds.embedBoundBy).toBe('writes');
  });

  it('shows the lane CPU that follows every user apart, and lets it bind the stage when it dominates', () => {
    const plan = sizeDailyRun({ totalUsers: 100e6, figures: FIGURES });
    const lanes = plan.containers * plan.partitionsPerJob;
    expect(plan.seconds.allUsersCpu).toBeCloseTo((100e6 * FIGURES.cpuSecondsPerPartitionUser) / lanes, 6);
    expect(plan.seconds.allUsersCpu).toBeLessThan(plan.seconds.embedStage);
    // a scan of 5 ms per user outweighs everything else: the stage becomes CPU-bound by it
    const slow = sizeDailyRun({ totalUsers: 100e6, figures: { ...FIGURES, cpuSecondsPerPartitionUser: 5e-3 } });
    expect(slow.seconds.embedBoundBy).toBe('cpu');
    expect(slow.seconds.allUsersCpu / slow.seconds.embedStage).toBeGreaterThan(0.5);
  });

  it("gives each lane the pace a stack deployed with the plan's maxVcpus sets on the Batch job", () => {
    for (const totalUsers of [10e6, 100e6, 1e9]) {
      const plan = sizeDailyRun({ totalUsers, figures: FIGURES });
      const stackPace = lanePace(
        RUN_WRITE_UNITS_PER_SECOND.default,
        maxConcurrentLanes(plan.vcpus, plan.partitionsPerJob),
      );
      expect(stackPace).toBe(plan.writeUnitsPerSecondPerLane);
    }
  });

  it('goes to a Distributed Map when the slices would overflow an inline Map history', () => {
    const plan = sizeDailyRun({ totalUsers: 1e9, figures: { ...FIGURES, eventBytesPerUser: 3_000 } });
    expect(plan.slices).toBeGreaterThan(3_500);
    expect(plan.mapKind).toBe('distributed');
    const history = plan.limits.find((l) => l.name === 'Step Functions history events')!;
    expect(history.utilization).toBeLessThanOrEqual(1);
  });

  it('cuts smaller slices when the partition stage is slow, so a slice stays within the Lambda timeout', () => {
    const plan = sizeDailyRun({ totalUsers: 100e6, figures: { ...FIGURES, partitionSecondsPerByte: 1e-5 } });
    expect(plan.sliceBytes).toBeLessThan(64 * 1024 * 1024);
    expect(plan.sliceSeconds).toBeLessThanOrEqual(450 + 1e-6);
  });

  it('splits the children into several array jobs rather than exceed the Batch array size', () => {
    const plan = sizeDailyRun({ totalUsers: 1e9, figures: { ...FIGURES, memoryBytesPerUser: 2_000_000 } });
    expect(plan.arrayJobs).toBeGreaterThan(1);
    expect(plan.arraySize).toBeLessThanOrEqual(AWS_LIMITS.batchArraySize);
    expect(plan.partitions).toBe(plan.arrayJobs * plan.arraySize * plan.partitionsPerJob);
    // one work file per partition and slice is then more than a prefix takes: the plan says so
    expect(plan.binding.name).toMatch(/^S3 PUT/);
    expect(plan.binding.utilization).toBeGreaterThan(1);
  });

  it('paces the partition-stage Map so that its work files stay within the S3 PUT rate of a prefix', () => {
    const plan = sizeDailyRun({ totalUsers: 1e9, figures: FIGURES });
    const s3 = plan.limits.find((l) => l.name.startsWith('S3 PUT/s'))!;
    expect(s3.utilization).toBeLessThanOrEqual(0.5);
    expect(plan.workFiles).toBe(plan.slices * plan.partitions);
  });

  it('writes less, and sooner, with the write policy', () => {
    const all = sizeDailyRun({ totalUsers: 1e9, figures: FIGURES });
    const policy = sizeDailyRun({ totalUsers: 1e9, figures: { ...FIGURES, writeSkipShare: 0.5 } });
    expect(policy.writtenUsers).toBeLessThan(all.writtenUsers * 0.51);
    expect(policy.seconds.embedStage).toBeLessThan(all.seconds.embedStage);
  });

  it('refuses figures that are not positive, naming the field', () => {
    expect(() => sizeDailyRun({ totalUsers: 0, figures: FIGURES })).toThrow(ValidationError);
    expect(() => sizeDailyRun({ totalUsers: 1e6, figures: { ...FIGURES, gpuSecondsPerUser: Number.NaN } })).toThrow(
      /gpuSecondsPerUser must be a positive number/,
    );
    expect(() => sizeDailyRun({ totalUsers: 1e6, figures: { ...FIGURES, writeSkipShare: 1 } })).toThrow(
      /writeSkipShare/,
    );
  });
});
