/**
 * The lookup endpoint: a Lambda that reads the table and nothing else, reachable only with IAM
 * (SigV4) auth: a Function URL with AWS_IAM (default) or an API Gateway REST API whose methods
 * require IAM. Reserved concurrency (default in cdk/config.ts) keeps a lookup storm from starving
 * the daily run's Lambdas; the endpoint points at the `live` alias so provisioned concurrency
 * applies. Callers get access with `grantInvoke` (docs/deploy.md, "Lookup callers").
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRIC_SERVICES } from '../../src/contract/run-contract.ts';
import { ACCESS, grantAccess } from '../permissions.ts';
import { StageFunction } from './stage-function.ts';

export type LookupAuth = 'function-url-iam' | 'api-gateway-iam';

export interface LookupApiProps {
  readonly table: dynamodb.ITableV2;
  readonly auth: LookupAuth;
  readonly reservedConcurrency?: number;
  readonly provisionedConcurrency?: number;
  readonly logRetentionDays: logs.RetentionDays;
  readonly environment: Readonly<Record<string, string>>;
}

export class LookupApi extends Construct {
  public readonly function: StageFunction;
  public readonly alias: lambda.Alias;
  /** Base URL of the endpoint. */
  public readonly url: string;
  public readonly functionUrl?: lambda.FunctionUrl;
  public readonly restApi?: apigateway.LambdaRestApi;

  public constructor(scope: Construct, id: string, props: LookupApiProps) {
    super(scope, id);
    this.function = new StageFunction(this, 'Lookup', {
      entryName: 'lookup',
      serviceName: METRIC_SERVICES.lookup,
      description: 'PinnerFormer lookup: embeddings by user id at the pointer or a pinned version (read-only)',
      environment: props.environment,
      memoryMb: 512,
      timeout: Duration.seconds(10),
      logRetentionDays: props.logRetentionDays,
      reservedConcurrency: props.reservedConcurrency,
      usesParquet: false,
    });
    grantAccess(this.function.role, ACCESS.lookup, undefined, props.table);
    this.alias = new lambda.Alias(this, 'Live', {
      aliasName: 'live',
      version: this.function.fn.currentVersion,
      provisionedConcurrentExecutions: props.provisionedConcurrency,
    });

    if (props.auth === 'function-url-iam') {
      this.functionUrl = this.alias.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
      this.url = this.functionUrl.url;
      return;
    }
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: props.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.restApi = new apigateway.LambdaRestApi(this, 'Api', {
      handler: this.alias,
      description: 'PinnerFormer lookup API (IAM auth)',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'v1',
        tracingEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
      },
      cloudWatchRole: true,
    });
    new apigateway.RequestValidator(this, 'Validator', {
      restApi: this.restApi,
      validateRequestParameters: true,
      validateRequestBody: true,
    });
    this.url = this.restApi.url;
  }

  /**
   * Lets a caller's role call the endpoint. A Function URL with AWS_IAM needs both
   * lambda:InvokeFunctionUrl and lambda:InvokeFunction (the latter only via the URL); API
   * Gateway needs execute-api:Invoke on the stage.
   */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    if (this.restApi) {
      return iam.Grant.addToPrincipal({
        grantee,
        actions: ['execute-api:Invoke'],
        resourceArns: [this.restApi.arnForExecuteApi('*', '/*', this.restApi.deploymentStage.stageName)],
      });
    }
    return this.alias.grantInvokeUrl(grantee);
  }
}
