/**
 * The NVIDIA GPU instance types the embed job may run on (x86_64 only: the image is linux/amd64),
 * with each size's vCPUs and memory, so that the config can refuse at synth an instance type or a
 * maxVcpus on which the job (K lanes x (4 vCPUs + 14 GiB), src/contract/run-contract.ts) could
 * never be placed: Batch would leave it RUNNABLE.
 */
import { MEMORY_GIB_PER_PARTITION, VCPUS_PER_PARTITION } from '../src/contract/run-contract.ts';

export interface InstanceSize {
  readonly vcpus: number;
  readonly memoryGib: number;
}

const sizes = (table: Record<string, [number, number]>): Record<string, InstanceSize> =>
  Object.fromEntries(Object.entries(table).map(([size, [vcpus, memoryGib]]) => [size, { vcpus, memoryGib }]));

/** vCPUs and GiB of each size, per family (EC2 instance type pages). */
export const GPU_INSTANCE_FAMILIES: Readonly<Record<string, Readonly<Record<string, InstanceSize>>>> = {
  g4dn: sizes({
    xlarge: [4, 16],
    '2xlarge': [8, 32],
    '4xlarge': [16, 64],
    '8xlarge': [32, 128],
    '12xlarge': [48, 192],
    '16xlarge': [64, 256],
    metal: [96, 384],
  }),
  g5: sizes({
    xlarge: [4, 16],
    '2xlarge': [8, 32],
    '4xlarge': [16, 64],
    '8xlarge': [32, 128],
    '12xlarge': [48, 192],
    '16xlarge': [64, 256],
    '24xlarge': [96, 384],
    '48xlarge': [192, 768],
  }),
  g6: sizes({
    xlarge: [4, 16],
    '2xlarge': [8, 32],
    '4xlarge': [16, 64],
    '8xlarge': [32, 128],
    '12xlarge': [48, 192],
    '16xlarge': [64, 256],
    '24xlarge': [96, 384],
    '48xlarge': [192, 768],
  }),
  g6e: sizes({
    xlarge: [4, 32],
    '2xlarge': [8, 64],
    '4xlarge': [16, 128],
    '8xlarge': [32, 256],
    '12xlarge': [48, 384],
    '16xlarge': [64, 512],
    '24xlarge': [96, 768],
    '48xlarge': [192, 1536],
  }),
  gr6: sizes({ '4xlarge': [16, 128], '8xlarge': [32, 256] }),
  p3: sizes({ '2xlarge': [8, 61], '8xlarge': [32, 244], '16xlarge': [64, 488] }),
  p4d: sizes({ '24xlarge': [96, 1152] }),
  p5: sizes({ '48xlarge': [192, 2048] }),
};

/** ARM (Graviton) GPU families: the image is built for linux/amd64 only. */
export const ARM_GPU_FAMILIES: readonly string[] = ['g5g'];

/** Share of an instance's memory ECS leaves to containers (the agent and the OS keep the rest). */
export const CONTAINER_MEMORY_SHARE = 0.94;

/** What one Batch child of `partitionsPerJob` lanes reserves. */
export function jobResources(partitionsPerJob: number): InstanceSize {
  return { vcpus: VCPUS_PER_PARTITION * partitionsPerJob, memoryGib: MEMORY_GIB_PER_PARTITION * partitionsPerJob };
}

/**
 * The most lanes that can run at once: whole children within `maxVcpus` (an instance larger than
 * a child only lowers it, so a pace sized on this keeps the lanes within their share).
 */
export function maxConcurrentLanes(maxVcpus: number, partitionsPerJob: number): number {
  return Math.max(1, Math.floor(maxVcpus / jobResources(partitionsPerJob).vcpus)) * partitionsPerJob;
}

export function fits(size: InstanceSize, job: InstanceSize): boolean {
  return size.vcpus >= job.vcpus && size.memoryGib * CONTAINER_MEMORY_SHARE >= job.memoryGib;
}

/** The sizes an instance family (`g5`) or type (`g6.2xlarge`) offers; undefined when unknown. */
export function sizesOf(instanceType: string): InstanceSize[] | undefined {
  const [family, size] = instanceType.split('.');
  const known = GPU_INSTANCE_FAMILIES[family ?? ''];
  if (!known) return undefined;
  if (size === undefined) return Object.values(known);
  const one = known[size];
  return one ? [one] : undefined;
}

/** Why an instance family or type cannot run the image at all; undefined when it can. */
export function instanceTypeProblem(type: string): string | undefined {
  if (ARM_GPU_FAMILIES.includes(type.split('.')[0] ?? '')) {
    return `${type} is ARM (Graviton); the embed image is linux/amd64: use an x86 GPU instance such as g5, g6 or g6e`;
  }
  if (!sizesOf(type)) {
    return `expected a GPU instance family or type such as g5 or g6.2xlarge (known families: ${Object.keys(GPU_INSTANCE_FAMILIES).join(', ')}), got ${type}`;
  }
  return undefined;
}

/**
 * Why the job could never be placed with these (valid) instance types and maxVcpus; empty when
 * it can. Each entry names the setting to change.
 */
export function placementProblems(
  instanceTypes: readonly string[],
  maxVcpus: number,
  partitionsPerJob: number,
): string[] {
  const job = jobResources(partitionsPerJob);
  const need = `a child of ${partitionsPerJob} lane(s) needs ${job.vcpus} vCPUs and ${job.memoryGib} GiB`;
  const problems: string[] = [];
  const usable: InstanceSize[] = [];
  for (const type of instanceTypes) {
    const offered = instanceTypeProblem(type) === undefined ? sizesOf(type) : undefined;
    if (!offered) continue; // refused by instanceTypeProblem
    const fitting = offered.filter((size) => fits(size, job));
    if (fitting.length === 0) {
      problems.push(
        `instanceTypes: no ${type} size fits the job (${need}); pick a larger size or lower partitionsPerJob`,
      );
    }
    usable.push(...fitting);
  }
  const smallest = Math.min(...usable.map((size) => size.vcpus));
  if (usable.length > 0 && maxVcpus < smallest) {
    problems.push(
      `maxVcpus (${maxVcpus}) is below the smallest instance that fits the job (${smallest} vCPUs; ${need}): no instance could ever start`,
    );
  }
  return problems;
}
