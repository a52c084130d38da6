/**
 * `pinnerformer aws doctor`: can this account run the deployed stack? Reads the deployed Batch
 * queues and compute environments, then checks the G and VT vCPU quotas against their maxVcpus
 * (Service Quotas), that the region offers their instance types (EC2), that a model version is
 * published, the schedule's state, and whether the table can take the run's paced writes at once.
 * One line per check; a blocker makes the command fail.
 */
import {
  type BatchClient,
  type ComputeEnvironmentDetail,
  DescribeComputeEnvironmentsCommand,
  DescribeJobQueuesCommand,
} from '@aws-sdk/client-batch';
import { DescribeInstanceTypeOfferingsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { GetScheduleCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { GetServiceQuotaCommand, type ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { VCPUS_PER_PARTITION } from '../contract/run-contract.ts';
import type { Pointer } from '../embeddings/types.ts';

export type CheckLevel = 'ok' | 'warn' | 'blocker';

export interface Check {
  readonly level: CheckLevel;
  readonly subject: string;
  readonly message: string;
}

/** EC2 vCPU quotas of G and VT instances (Service Quotas, service code ec2). */
export const GPU_QUOTAS = {
  onDemand: { code: 'L-DB2E81BA', name: 'Running On-Demand G and VT instances' },
  spot: { code: 'L-3819A6DF', name: 'All G and VT Spot Instance Requests' },
} as const;

export interface DoctorClients {
  readonly batch: BatchClient;
  readonly quotas: ServiceQuotasClient;
  readonly ec2: EC2Client;
  readonly scheduler: SchedulerClient;
  /** The table's pointer (absent: nothing published yet). */
  readonly getPointer: () => Promise<Pointer | undefined>;
  /** The write units per second the table serves at once (DescribeTable's WarmThroughput; absent: not reported). */
  readonly getWarmWriteUnits: () => Promise<number | undefined>;
}

export interface DoctorTargets {
  readonly jobQueueArns: readonly string[];
  /** Absent on a stack deployed before the schedule name became an output. */
  readonly scheduleName?: string;
  readonly region?: string;
  /** What the run's lanes are paced to together (RunWriteUnitsPerSecond output; absent on older stacks). */
  readonly runWriteUnitsPerSecond?: number;
}

const isGAndVt = (type: string) => /^(g\d|gr\d|vt\d)/.test(type);

async function readComputeEnvironments(
  batch: BatchClient,
  queueArns: readonly string[],
  checks: Check[],
): Promise<ComputeEnvironmentDetail[]> {
  const { jobQueues = [] } = await batch.send(new DescribeJobQueuesCommand({ jobQueues: [...queueArns] }));
  for (const arn of queueArns) {
    const queue = jobQueues.find((q) => q.jobQueueArn === arn || q.jobQueueName === arn);
    if (!queue)
      checks.push({ level: 'blocker', subject: 'job queue', message: `${arn} does not exist: deploy the stack` });
    else if (queue.state !== 'ENABLED' || queue.status !== 'VALID') {
      checks.push({
        level: 'blocker',
        subject: 'job queue',
        message: `${queue.jobQueueName} is ${queue.state}/${queue.status}${queue.statusReason ? `: ${queue.statusReason}` : ''}`,
      });
    } else checks.push({ level: 'ok', subject: 'job queue', message: `${queue.jobQueueName} is ENABLED and VALID` });
  }
  const ceArns = [
    ...new Set(jobQueues.flatMap((q) => (q.computeEnvironmentOrder ?? []).map((o) => o.computeEnvironment ?? ''))),
  ].filter(Boolean);
  if (ceArns.length === 0) return [];
  const { computeEnvironments = [] } = await batch.send(
    new DescribeComputeEnvironmentsCommand({ computeEnvironments: ceArns }),
  );
  for (const ce of computeEnvironments) {
    const kind = ce.computeResources?.type ?? '?';
    const summary = `${ce.computeEnvironmentName} (${kind}, maxVcpus ${ce.computeResources?.maxvCpus ?? '?'}, ${(ce.computeResources?.instanceTypes ?? []).join(',')})`;
    if (ce.status === 'INVALID' || ce.state !== 'ENABLED') {
      checks.push({
        level: 'blocker',
        subject: 'compute env',
        message: `${summary} is ${ce.state}/${ce.status}${ce.statusReason ? `: ${ce.statusReason}` : ''}`,
      });
    } else checks.push({ level: 'ok', subject: 'compute env', message: `${summary} is ${ce.status}` });
  }
  return computeEnvironments;
}

async function checkQuota(
  clients: DoctorClients,
  which: keyof typeof GPU_QUOTAS,
  maxVcpus: number,
  checks: Check[],
): Promise<void> {
  const { code, name } = GPU_QUOTAS[which];
  let value: number | undefined;
  try {
    const { Quota } = await clients.quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: code }));
    value = Quota?.Value;
  } catch (error) {
    checks.push({
      level: 'warn',
      subject: 'quota',
      message: `cannot read "${name}" (${code}): ${(error as Error).message}`,
    });
    return;
  }
  const ask = `request at least ${maxVcpus} in Service Quotas (ec2, ${code}; docs/deploy.md, "Quotas")`;
  if (value === undefined || value < VCPUS_PER_PARTITION) {
    checks.push({
      level: 'blocker',
      subject: 'quota',
      message: `"${name}" is ${value ?? 'unset'} vCPUs: no GPU instance can start, children stay RUNNABLE; ${ask}`,
    });
  } else if (value < maxVcpus) {
    checks.push({
      level: 'warn',
      subject: 'quota',
      message: `"${name}" is ${value} vCPUs, below maxVcpus ${maxVcpus}: fewer children run at once; ${ask}`,
    });
  } else {
    checks.push({ level: 'ok', subject: 'quota', message: `"${name}" is ${value} vCPUs (maxVcpus ${maxVcpus})` });
  }
}

async function checkOfferings(ec2: EC2Client, types: readonly string[], region: string, checks: Check[]) {
  const zonesOf = new Map<string, Set<string>>();
  let nextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeInstanceTypeOfferingsCommand({
        LocationType: 'availability-zone',
        Filters: [{ Name: 'instance-type', Values: types.map((t) => (t.includes('.') ? t : `${t}.*`)) }],
        NextToken: nextToken,
      }),
    );
    for (const offering of page.InstanceTypeOfferings ?? []) {
      if (!offering.InstanceType || !offering.Location) continue;
      const zones = zonesOf.get(offering.InstanceType) ?? new Set<string>();
      zones.add(offering.Location);
      zonesOf.set(offering.InstanceType, zones);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  for (const type of types) {
    const matching = [...zonesOf.entries()].filter(([name]) => name === type || name.startsWith(`${type}.`));
    const zones = [...new Set(matching.flatMap(([, z]) => [...z]))].sort();
    if (zones.length === 0) {
      checks.push({
        level: 'blocker',
        subject: 'instances',
        message: `${type} is not offered in ${region}: choose instanceTypes the region offers, or another region`,
      });
    } else {
      checks.push({
        level: zones.length < 2 ? 'warn' : 'ok',
        subject: 'instances',
        message: `${type} is offered in ${zones.length} zone(s) of ${region}: ${zones.join(', ')}`,
      });
    }
  }
}

async function checkModelAndSchedule(clients: DoctorClients, scheduleName: string | undefined, checks: Check[]) {
  const pointer = await clients.getPointer();
  checks.push(
    pointer
      ? { level: 'ok', subject: 'model', message: `published version ${pointer.version} is live` }
      : {
          level: 'warn',
          subject: 'model',
          message:
            'no version is published yet: `pinnerformer aws deploy-model DIR` uploads a model and starts its backfill',
        },
  );
  if (scheduleName === undefined) {
    checks.push({ level: 'warn', subject: 'schedule', message: 'the stack names no schedule (ScheduleName output)' });
    return;
  }
  const { State } = await clients.scheduler.send(new GetScheduleCommand({ Name: scheduleName }));
  if (State === 'ENABLED' && !pointer) {
    checks.push({
      level: 'blocker',
      subject: 'schedule',
      message: `${scheduleName} is ENABLED but nothing is published: the next scheduled run fails and alarms. Deploy with -c scheduleEnabled=false until the first backfill publishes`,
    });
  } else if (State !== 'ENABLED' && pointer) {
    checks.push({
      level: 'warn',
      subject: 'schedule',
      message: `${scheduleName} is ${State}: no scheduled runs until it is enabled (-c scheduleEnabled=true, then deploy); expected with trigger=completion-marker`,
    });
  } else {
    checks.push({
      level: 'ok',
      subject: 'schedule',
      message: `${scheduleName} is ${State}${pointer ? '' : ' (until the first backfill publishes)'}`,
    });
  }
}

/**
 * Whether the table can take the run's paced writes from the start: a new on-demand table serves
 * 4,000 write units/s at once and doubles its previous peak within 30 minutes, so a first backfill
 * paced above its warm throughput is throttled (the store backs off) until the table has scaled.
 */
async function checkTableWarmth(clients: DoctorClients, budget: number | undefined, checks: Check[]) {
  if (budget === undefined) return;
  const warm = await clients.getWarmWriteUnits();
  if (warm === undefined) return;
  checks.push(
    warm >= budget
      ? {
          level: 'ok',
          subject: 'table',
          message: `serves ${warm} write units/s at once (the run is paced to ${budget})`,
        }
      : {
          level: 'warn',
          subject: 'table',
          message: `serves ${warm} write units/s at once, below the ${budget} the run's lanes are paced to together: a large run (the first backfill) is throttled and slowed until the table scales. Pre-warm it with -c tableWarmWriteUnitsPerSecond=${budget} (a one-time charge), or lower runWriteUnitsPerSecond (docs/deploy.md, "Cost drivers")`,
        },
  );
}

/** Runs every check; the caller fails when any is a blocker. */
export async function runDoctor(clients: DoctorClients, targets: DoctorTargets): Promise<Check[]> {
  const checks: Check[] = [];
  const environments = await readComputeEnvironments(clients.batch, targets.jobQueueArns, checks);
  const maxOf = (spot: boolean) =>
    environments
      .filter((ce) => (ce.computeResources?.type === 'SPOT' || ce.computeResources?.type === 'FARGATE_SPOT') === spot)
      .reduce((sum, ce) => sum + (ce.computeResources?.maxvCpus ?? 0), 0);
  const types = [...new Set(environments.flatMap((ce) => ce.computeResources?.instanceTypes ?? []))];
  if (types.some((t) => !isGAndVt(t))) {
    checks.push({
      level: 'warn',
      subject: 'quota',
      message: `${types.filter((t) => !isGAndVt(t)).join(', ')} draw on other vCPU quotas than G and VT: not checked here`,
    });
  }
  if (maxOf(false) > 0) await checkQuota(clients, 'onDemand', maxOf(false), checks);
  if (maxOf(true) > 0) await checkQuota(clients, 'spot', maxOf(true), checks);
  if (types.length > 0) await checkOfferings(clients.ec2, types, targets.region ?? 'this region', checks);
  await checkModelAndSchedule(clients, targets.scheduleName, checks);
  await checkTableWarmth(clients, targets.runWriteUnitsPerSecond, checks);
  return checks;
}

export function doctorLines(checks: readonly Check[]): string[] {
  const label: Record<CheckLevel, string> = { ok: 'ok     ', warn: 'WARN   ', blocker: 'BLOCKER' };
  const count = (level: CheckLevel) => checks.filter((c) => c.level === level).length;
  return [
    ...checks.map((c) => `${label[c.level]} ${c.subject.padEnd(11)} ${c.message}`),
    `doctor: ${count('blocker')} blocker(s), ${count('warn')} warning(s), ${count('ok')} ok`,
  ];
}
