/**
 * `pinnerformer aws deploy-model` end to end against local stand-ins of S3 (s3rver) and DynamoDB
 * (dynalite), reached through the SDK's standard AWS_ENDPOINT_URL_* variables: the model is
 * validated, uploaded and recorded; with no live model the backfill command is printed, not run.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { ensureTable, type LocalDynamo, startLocalDynamo } from '../src/local/dynalite.ts';
import { createS3Client } from '../src/storage/s3-object-store.ts';
import { fixtureModel, fixtureModelVersion } from './pipeline-helpers.ts';
import { type LocalS3, localS3Credentials, startLocalS3 } from './storage-helpers.ts';

const TABLE = 'pf-cli-deploy';
const MV = fixtureModelVersion('tiny');
let s3: LocalS3;
let dynamo: LocalDynamo;
const saved = { ...process.env };

async function cli(args: string[]): Promise<{ code: number | undefined; stderr: string }> {
  const written: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    await main(['node', 'pinnerformer', ...args]);
    return { code: process.exitCode as number | undefined, stderr: written.join('') };
  } finally {
    process.stderr.write = original;
    process.exitCode = undefined;
  }
}

beforeAll(async () => {
  s3 = await startLocalS3('pf-cli-deploy');
  dynamo = await startLocalDynamo();
  await ensureTable(dynamo.client, TABLE);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: localS3Credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: localS3Credentials.secretAccessKey,
  });
});

afterAll(async () => {
  process.env = saved;
  await dynamo?.close();
  await s3?.close();
});

describe('aws deploy-model', () => {
  const args = [
    'aws',
    'deploy-model',
    fixtureModel('tiny'),
    '--bucket',
    'pf-cli-deploy',
    '--table',
    TABLE,
    '--no-backfill',
  ];

  it('validates, uploads and records the model, then says how to start its backfill', async () => {
    // Act
    const { code, stderr } = await cli(args);
    // Assess
    expect(code).toBeUndefined();
    expect(stderr).toContain(`model ${MV} is recorded under s3://pf-cli-deploy/models/${MV}/`);
    expect(stderr).toContain(`pinnerformer aws run --date`);
    expect(stderr).toContain(`--model-version ${MV} --backfill`);
    const client = createS3Client({ endpoint: s3.endpoint, region: 'us-east-1', credentials: localS3Credentials });
    try {
      const record = await client.send(
        new GetObjectCommand({ Bucket: 'pf-cli-deploy', Key: `models/${MV}/deployed.json` }),
      );
      const deployed = JSON.parse(await record.Body!.transformToString()) as { modelVersion: string; files: string[] };
      expect(deployed.modelVersion).toBe(MV);
      expect(deployed.files).toContain('model.onnx');
    } finally {
      client.destroy();
    }
  });

  it('is idempotent for the same files', async () => {
    const { code, stderr } = await cli(args);
    expect(code).toBeUndefined();
    expect(stderr).toContain(`model ${MV} already deployed`);
  });

  it('refuses a directory that is not a model before uploading anything', async () => {
    const { code, stderr } = await cli([
      'aws',
      'deploy-model',
      '/nonexistent-model-dir',
      '--bucket',
      'pf-cli-deploy',
      '--table',
      TABLE,
      '--no-backfill',
    ]);
    expect(code).toBeGreaterThan(0);
    expect(stderr).toMatch(/error \[(MODEL|NOT_FOUND|VALIDATION)\]/);
  });
});
