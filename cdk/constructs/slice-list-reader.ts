/**
 * The Distributed Map's item reader: the run's slice list, a JSON array of slice tasks the plan
 * Lambda writes to `runs/<mv>/dt=<D>/[attempt=<A>/]slices.json` (key taken from the plan's answer). CDK's
 * S3JsonItemReader grants GetObject on the whole bucket; this one only on the slice lists.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';

/** Object keys the reader may read: every run's slice list, a rerun's attempt's too (`*` spans `/`). */
export const SLICE_LIST_KEYS = 'runs/*/slices.json';

export class SliceListReader extends sfn.S3JsonItemReader {
  private readonly sliceBucket: s3.IBucket;

  public constructor(bucket: s3.IBucket, keyPath: string) {
    super({ bucket, key: keyPath });
    this.sliceBucket = bucket;
  }

  public override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.sliceBucket.arnForObjects(SLICE_LIST_KEYS)],
      }),
    ];
  }
}
