/**
 * One Lambda function of the system, bundled from lambdas/<name>.ts with the local esbuild (never
 * Docker), on Node 22 arm64, with Powertools settings, X-Ray tracing, JSON logs in its own log
 * group. No DLQ: every function is invoked synchronously (Step Functions, the Function URL), so
 * one could never fire. Roles are created bare: permissions are added explicitly by the
 * stack (cdk/permissions.ts) so that each function gets exactly what it uses.
 */
import * as path from 'node:path';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../src/contract/run-contract.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

export interface StageFunctionProps {
  /** Handler module name under lambdas/ (without .ts). */
  readonly entryName: string;
  /** Powertools service name (log field `service`, metric dimension `service`). */
  readonly serviceName: string;
  readonly description: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly memoryMb: number;
  readonly timeout: Duration;
  readonly logRetentionDays: logs.RetentionDays;
  readonly reservedConcurrency?: number;
  /**
   * Whether the handler reads or writes Parquet (parquet-wasm loads its .wasm from the bundle's
   * directory): only then is the file shipped. @default true
   */
  readonly usesParquet?: boolean;
}

/** The ESM bundle hosts CommonJS dependencies: give them require/__dirname. */
export const BUNDLE_BANNER =
  "import{createRequire as __cr}from'node:module';import{fileURLToPath as __fu}from'node:url';import{dirname as __dn}from'node:path';const require=__cr(import.meta.url);const __filename=__fu(import.meta.url);const __dirname=__dn(__filename);";
/** No Lambda runs a model: the stage modules' onnxruntime import resolves to a stub that throws. */
export const BUNDLE_ALIASES = { 'onnxruntime-node': './lambdas/shared/no-onnxruntime.ts' } as const;
export const BUNDLE_EXTERNALS = ['dynalite', 's3rver'] as const;

/** parquet-wasm loads its .wasm from the bundle's directory at import time: copy it there. */
export const PARQUET_WASM = path.join(REPO_ROOT, 'node_modules', 'parquet-wasm', 'node', 'parquet_wasm_bg.wasm');

export class StageFunction extends Construct {
  public readonly fn: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  public constructor(scope: Construct, id: string, props: StageFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.serviceName}: only the actions its handler uses (cdk/permissions.ts)`,
    });
    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, 'lambdas', `${props.entryName}.ts`),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      memorySize: props.memoryMb,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        minify: true,
        // Step Functions retries match the error's name (TransientError): minify must keep class names.
        keepNames: true,
        sourceMap: true,
        banner: BUNDLE_BANNER,
        esbuildArgs: Object.fromEntries(Object.entries(BUNDLE_ALIASES).map(([from, to]) => [`--alias:${from}`, to])),
        externalModules: [...BUNDLE_EXTERNALS],
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_input: string, output: string) =>
            props.usesParquet === false ? [] : [`cp "${PARQUET_WASM}" "${output}/"`],
        },
      },
    });
    // The role is bare (no managed policy): it writes only its own log group. Tracing adds X-Ray.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
  }
}
