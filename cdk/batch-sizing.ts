/**
 * What one partition (lane) of a Batch child reserves: 4 vCPUs, i.e. 2 cores for its embedding and
 * writer threads (its inference thread mostly waits on the GPU), and 14 GiB. A child of K lanes
 * fits the g5/g6 size with 4K vCPUs (xlarge: 1, 2xlarge: 2, 4xlarge: 4, 8xlarge: 8), whose memory
 * is 16K GiB. Plain constants, so that the cost projection (bench/cost.ts) sizes containers alike.
 */
export const VCPUS_PER_PARTITION = 4;
export const MEMORY_GIB_PER_PARTITION = 14;
