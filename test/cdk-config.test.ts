/** The deployment config: defaults, `-c key=value` overrides, and clear errors for bad values. */
import { describe, expect, it } from 'vitest';
import { CONFIG_CONTEXT_KEY, parseDeploymentConfig, readDeploymentConfig } from '../cdk/config.ts';
import { ValidationError } from '../src/util/errors.ts';

const context =
  (values: Record<string, unknown>) =>
  (key: string): unknown =>
    values[key];

describe('deployment config', () => {
  it('documents defaults for every setting', () => {
    const config = parseDeploymentConfig({});
    expect(config).toMatchObject({
      stackName: 'PinnerFormer',
      scheduleExpression: 'cron(0 3 * * ? *)',
      partitions: 16,
      partitionsPerJob: 2,
      instanceTypes: ['g5', 'g6'],
      maxVcpus: 64,
      spot: true,
      refreshAgeDays: 7,
      requireSuccessMarker: false,
      embeddingRetentionDays: 30,
      embeddingDtype: 'float16',
      lookupAuth: 'function-url-iam',
    });
    expect(config.imageUri).toBeUndefined();
    expect(config.vpcId).toBeUndefined();
  });

  it('reads the cdk.json object and lets string overrides from -c win, coerced to their types', () => {
    // Prepare: cdk.json context plus `-c partitions=32 -c spot=false -c instanceTypes=g6,g6e.xlarge`
    const get = context({
      [CONFIG_CONTEXT_KEY]: { partitions: 8, maxVcpus: 128 },
      partitions: '32',
      spot: 'false',
      instanceTypes: 'g6,g6e.xlarge',
    });
    // Act
    const config = readDeploymentConfig(get);
    // Assess
    expect(config.partitions).toBe(32);
    expect(config.maxVcpus).toBe(128);
    expect(config.spot).toBe(false);
    expect(config.instanceTypes).toEqual(['g6', 'g6e.xlarge']);
  });

  it('refuses as many partitions per child as partitions: a Batch array has at least 2 children', () => {
    expect(() => parseDeploymentConfig({ partitions: 4, partitionsPerJob: 4 })).toThrow(ValidationError);
    expect(() => parseDeploymentConfig({ partitions: 4, partitionsPerJob: 4 })).toThrow(
      /partitionsPerJob \(4\) must be below partitions \(4\)/,
    );
    expect(() => parseDeploymentConfig({ partitionsPerJob: 17 })).toThrow(/partitionsPerJob/);
    expect(parseDeploymentConfig({ partitions: 4, partitionsPerJob: 3 }).partitionsPerJob).toBe(3);
  });

  it('names every bad key in one ValidationError', () => {
    const attempt = () =>
      parseDeploymentConfig({ partitions: 1, instanceTypes: ['m5.large'], spot: 'sometimes', embeddingDtype: 'int8' });
    expect(attempt).toThrow(ValidationError);
    try {
      attempt();
    } catch (error) {
      const message = (error as Error).message;
      for (const key of ['partitions', 'instanceTypes.0', 'spot', 'embeddingDtype'])
        expect(message).toContain(`${key}:`);
      expect(message).toContain('GPU instance');
    }
  });

  it('refuses unknown keys (typos) and malformed ids', () => {
    expect(() => parseDeploymentConfig({ partitons: 4 })).toThrow(/partitons|Unrecognized/);
    expect(() => parseDeploymentConfig({ vpcId: 'my-vpc' })).toThrow(/vpcId: expected a VPC id/);
    expect(() => parseDeploymentConfig({ imageUri: 'nginx' })).toThrow(/imageUri/);
    expect(() => parseDeploymentConfig({ scheduleExpression: '0 3 * * *' })).toThrow(/cron\(\.\.\.\)/);
    expect(() => parseDeploymentConfig({ logRetentionDays: 2 })).toThrow(/logRetentionDays: expected one of/);
  });

  it('keeps the refresh age below the embedding retention so no embedding expires', () => {
    expect(() => parseDeploymentConfig({ refreshAgeDays: 30, embeddingRetentionDays: 30 })).toThrow(/refreshAgeDays/);
    expect(parseDeploymentConfig({ refreshAgeDays: 28, embeddingRetentionDays: 30 }).refreshAgeDays).toBe(28);
  });

  it('refuses a context value that is not an object', () => {
    expect(() => readDeploymentConfig(context({ [CONFIG_CONTEXT_KEY]: 'x' }))).toThrow(/must be an object/);
  });
});
