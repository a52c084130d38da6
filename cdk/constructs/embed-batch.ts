/**
 * The GPU side of the daily run: a VPC with private subnets (new, or an existing one by id),
 * managed EC2 compute environments with GPU instances that scale to zero, launched from a
 * template (IMDSv2 only, hop limit 1: containers cannot take the instance role; a root volume
 * sized for the image), a Spot queue and an on-demand queue (the state machine falls back from
 * one to the other), each cancelling children stuck RUNNABLE, and the embed job definition
 * (1 GPU, retries for host failures and Spot reclaims only, a timeout). The job role reads and
 * writes only what the embed stage uses (cdk/permissions.ts).
 */
import { Duration, IgnoreMode, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  EXIT_CODES,
  MEMORY_GIB_PER_PARTITION,
  METRIC_SERVICES,
  METRICS_NAMESPACE,
  VCPUS_PER_PARTITION,
} from '../../src/contract/run-contract.ts';
import { ACCESS, grantAccess } from '../permissions.ts';
import { REPO_ROOT } from './stage-function.ts';

/** Misconfigured children (no instance fits, maxVcpus too small) never start: cancel them soon. */
export const MISCONFIGURED_RUNNABLE_TIMEOUT = Duration.minutes(10);
/** Slack on top of the children's own time in the Batch task's state timeout (image pulls, scheduling). */
const STATE_TIMEOUT_SLACK = Duration.minutes(30);

export interface EmbedBatchProps {
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITableV2;
  readonly vpcId?: string;
  readonly imageUri?: string;
  readonly instanceTypes: readonly string[];
  readonly maxVcpus: number;
  readonly spot: boolean;
  readonly jobAttempts: number;
  readonly jobTimeout: Duration;
  /** How long a child may wait RUNNABLE for instance capacity before its queue cancels it. */
  readonly runnableTimeout: Duration;
  /** Root EBS volume of each GPU instance, GiB. */
  readonly rootVolumeGiB: number;
  /** Partitions each array child embeds at once (its vCPUs and memory scale with them). */
  readonly partitionsPerJob: number;
  readonly logRetentionDays: logs.RetentionDays;
  /** Environment of every child job (stores, dtype, retention). */
  readonly environment: Readonly<Record<string, string>>;
}

/** Only what the image needs: the Dockerfile, the sources and the lock file (keeps asset hashing fast). */
export const IMAGE_CONTEXT_EXCLUDE = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!tsconfig.json',
  '!src/**',
  '!bin/build.js',
  '!bin/build.ts',
  '!batch-container/main.ts',
  '!batch-container/worker.ts',
  '!batch-container/package.json',
  '!batch-container/package-lock.json',
  '!batch-container/install-providers.sh',
  '!batch-container/ort-providers/**',
  // CDK stages the context and then runs `docker build -f batch-container/Dockerfile` inside it.
  '!batch-container/Dockerfile',
];

export class EmbedBatch extends Construct {
  public readonly vpc: ec2.IVpc;
  /** Where the run's array job goes first: the Spot queue, or the on-demand one without Spot. */
  public readonly jobQueue: batch.JobQueue;
  /** The on-demand queue the state machine falls back to (the same as jobQueue without Spot). */
  public readonly onDemandJobQueue: batch.JobQueue;
  public readonly jobQueues: batch.JobQueue[];
  public readonly launchTemplate: ec2.LaunchTemplate;
  public readonly jobDefinition: batch.EcsJobDefinition;
  public readonly container: batch.EcsEc2ContainerDefinition;
  public readonly jobRole: iam.Role;
  public readonly logGroup: logs.LogGroup;
  public readonly computeEnvironments: batch.ManagedEc2EcsComputeEnvironment[];
  private readonly props: EmbedBatchProps;

  public constructor(scope: Construct, id: string, props: EmbedBatchProps) {
    super(scope, id);
    this.props = props;
    this.vpc = props.vpcId ? ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId }) : this.createVpc();
    const securityGroup = new ec2.SecurityGroup(this, 'WorkerSecurityGroup', {
      vpc: this.vpc,
      description: 'Embed workers: no inbound traffic; outbound HTTPS to AWS APIs and ECR',
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs, ECR and S3');

    this.launchTemplate = this.createLaunchTemplate();
    this.computeEnvironments = this.createComputeEnvironments(securityGroup);
    const queues = this.createQueues();
    this.onDemandJobQueue = queues.onDemand;
    this.jobQueue = queues.first;
    this.jobQueues = props.spot ? [this.jobQueue, this.onDemandJobQueue] : [this.onDemandJobQueue];
    this.jobRole = this.createJobRole();
    this.logGroup = new logs.LogGroup(this, 'JobLogs', {
      retention: props.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.container = this.createContainer();
    this.jobDefinition = new batch.EcsJobDefinition(this, 'EmbedJob', {
      container: this.container,
      retryAttempts: props.jobAttempts,
      retryStrategies: [
        // Spot reclaims and host failures: status reason "Host EC2 (instance i-...) terminated."
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.SPOT_INSTANCE_RECLAIMED),
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.CANNOT_PULL_CONTAINER),
        // The worker exits 75 when a dependency kept failing (TransientError): safe to rerun.
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.custom({ onExitCode: String(EXIT_CODES.transient) })),
        // Any other exit code is bad input or a bad model: retrying cannot help.
        batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom({ onExitCode: '*' })),
      ],
      timeout: props.jobTimeout,
      propagateTags: true,
    });
  }

  /** The worker's container: the image (built from batch-container/Dockerfile unless given), one GPU, K lanes' CPU and memory. */
  private createContainer(): batch.EcsEc2ContainerDefinition {
    const { props } = this;
    const image = props.imageUri
      ? ecs.ContainerImage.fromRegistry(props.imageUri)
      : ecs.ContainerImage.fromAsset(REPO_ROOT, {
          file: 'batch-container/Dockerfile',
          platform: Platform.LINUX_AMD64,
          ignoreMode: IgnoreMode.DOCKER,
          exclude: IMAGE_CONTEXT_EXCLUDE,
        });

    return new batch.EcsEc2ContainerDefinition(this, 'EmbedContainer', {
      image,
      gpu: 1,
      cpu: VCPUS_PER_PARTITION * props.partitionsPerJob,
      memory: Size.gibibytes(MEMORY_GIB_PER_PARTITION * props.partitionsPerJob),
      jobRole: this.jobRole,
      environment: {
        EXECUTION_PROVIDER: 'cuda',
        POWERTOOLS_SERVICE_NAME: METRIC_SERVICES.embedWorker,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
      logging: ecs.LogDriver.awsLogs({ streamPrefix: 'embed', logGroup: this.logGroup }),
      readonlyRootFilesystem: false,
    });
  }

  /** GPU instances with an encrypted gp3 root volume and IMDSv2 only. */
  private createLaunchTemplate(): ec2.LaunchTemplate {
    const { props } = this;
    return new ec2.LaunchTemplate(this, 'WorkerLaunchTemplate', {
      // IMDSv2 with hop limit 1: the containers (one hop further) cannot reach instance metadata,
      // so they use their job role only, never the instance role.
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(props.rootVolumeGiB, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
          }),
        },
      ],
    });
  }

  /** Spot first and on-demand (or on-demand only), scaling to zero when idle. */
  private createComputeEnvironments(securityGroup: ec2.ISecurityGroup): batch.ManagedEc2EcsComputeEnvironment[] {
    const { props } = this;
    // `g5` is a family (any size Batch picks), `g6.xlarge` one size.
    const instanceTypes = props.instanceTypes
      .filter((type) => type.includes('.'))
      .map((type) => new ec2.InstanceType(type));
    const instanceClasses = props.instanceTypes.filter((type) => !type.includes('.')) as ec2.InstanceClass[];
    const environment = (name: string, spot: boolean) =>
      new batch.ManagedEc2EcsComputeEnvironment(this, name, {
        vpc: this.vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [securityGroup],
        spot,
        allocationStrategy: spot
          ? batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED
          : batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
        instanceTypes,
        instanceClasses,
        launchTemplate: this.launchTemplate,
        useOptimalInstanceClasses: false,
        images: [{ imageType: batch.EcsMachineImageType.ECS_AL2023_NVIDIA }],
        minvCpus: 0,
        maxvCpus: props.maxVcpus,
        updateToLatestImageVersion: true,
        replaceComputeEnvironment: false,
      });
    return props.spot
      ? [environment('SpotGpu', true), environment('OnDemandGpu', false)]
      : [environment('OnDemandGpu', false)];
  }

  /** The on-demand queue, and the queue a run goes to first (Spot's, or the same on-demand one). */
  private createQueues(): { onDemand: batch.JobQueue; first: batch.JobQueue } {
    const { props } = this;
    // One environment per queue: Batch only moves a job to a queue's next environment when the
    // first is at maxvCpus, not when Spot has no capacity, so the fallback is the state
    // machine's (a second submit to the on-demand queue), explicit and bounded by runnableTimeout.
    const queue = (name: string, computeEnvironment: batch.IComputeEnvironment) =>
      new batch.JobQueue(this, name, {
        priority: 1,
        computeEnvironments: [{ computeEnvironment, order: 1 }],
        jobStateTimeLimitActions: [
          {
            maxTime: props.runnableTimeout,
            reason: batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
          },
          ...[
            batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
            batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
          ].map((reason) => ({ maxTime: MISCONFIGURED_RUNNABLE_TIMEOUT, reason })),
        ],
      });
    const onDemand = queue('Queue', this.computeEnvironments.at(-1)!);
    return { onDemand, first: props.spot ? queue('SpotQueue', this.computeEnvironments[0]!) : onDemand };
  }

  /** The worker's role: its S3 prefixes and table actions from cdk/permissions.ts. */
  private createJobRole(): iam.Role {
    const { props } = this;
    const role = new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Embed worker: reads its inputs, writes its table and its S3 prefixes only',
    });
    grantAccess(role, ACCESS.embed, props.bucket, props.table);
    // Metrics leave as EMF lines in the job's log group: no cloudwatch:PutMetricData needed.

    return role;
  }

  /**
   * The longest an array job can take: every attempt of a child waiting RUNNABLE up to its limit
   * and running to its timeout, plus slack. The Batch task's state timeout: past it Step Functions
   * stops waiting and terminates the job.
   */
  public stateTimeout(attempts: number): Duration {
    const perAttempt = this.props.runnableTimeout.toMinutes() + this.props.jobTimeout.toMinutes();
    return Duration.minutes(attempts * perAttempt + STATE_TIMEOUT_SLACK.toMinutes());
  }

  private createVpc(): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 3,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'workers', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
    vpc.addFlowLog('FlowLogs', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', {
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    return vpc;
  }
}
