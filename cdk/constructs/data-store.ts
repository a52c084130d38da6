/**
 * The system's state: one S3 bucket (events, work files, sequence and embedding snapshots,
 * models, run manifests; layout in src/pipeline/types.ts) and one DynamoDB table (embeddings,
 * versions, pointer, run locks; schema in src/embeddings/table-schema.ts).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { TABLE_KEYS, TTL_ATTRIBUTE } from '../../src/embeddings/table-schema.ts';

export interface DataStoreProps {
  /** Days to keep work/ and runs/ objects. */
  readonly workRetentionDays: number;
  /** Days to keep sequences/ and embeddings/ snapshots. */
  readonly snapshotRetentionDays: number;
  /** Bucket for the data bucket's server access logs. */
  readonly accessLogsBucket: s3.IBucket;
  /** Send the bucket's events to EventBridge (the completion-marker trigger). @default false */
  readonly eventBridgeEnabled?: boolean;
  /**
   * Write units per second the table serves from its first write (pre-warmed, a one-time charge).
   * @default none: a new on-demand table serves 4,000 and doubles its previous peak within 30 minutes
   */
  readonly warmWriteUnitsPerSecond?: number;
}

export class DataStore extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly table: dynamodb.TableV2;

  public constructor(scope: Construct, id: string, props: DataStoreProps) {
    super(scope, id);

    const expire = (prefix: string, days: number): s3.LifecycleRule => ({
      id: `expire-${prefix.replace(/\/$/, '')}`,
      prefix,
      expiration: Duration.days(days),
      noncurrentVersionExpiration: Duration.days(1),
      abortIncompleteMultipartUploadAfter: Duration.days(1),
    });
    // Once the last noncurrent version has expired, a lone delete marker is removed too (S3
    // allows this only in a rule without a current-version expiration).
    const dropDeleteMarkers: s3.LifecycleRule = { id: 'expired-delete-markers', expiredObjectDeleteMarker: true };

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Versioning keeps overwritten models/events recoverable; lifecycle rules drop old versions.
      versioned: true,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'data-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        expire('work/', props.workRetentionDays),
        expire('runs/', props.workRetentionDays),
        expire('sequences/', props.snapshotRetentionDays),
        expire('embeddings/', props.snapshotRetentionDays),
        { id: 'old-versions', noncurrentVersionExpiration: Duration.days(30) },
        dropDeleteMarkers,
      ],
    });

    if (props.eventBridgeEnabled) {
      // Set on the bucket itself: `eventBridgeEnabled` would add a notifications custom resource (a Lambda).
      (this.bucket.node.defaultChild as s3.CfnBucket).addPropertyOverride(
        'NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled',
        true,
      );
    }

    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      removalPolicy: RemovalPolicy.RETAIN,
      ...(props.warmWriteUnitsPerSecond === undefined
        ? {}
        : { warmThroughput: { writeUnitsPerSecond: props.warmWriteUnitsPerSecond } }),
    });
  }
}
