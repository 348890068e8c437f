// tradesim on AWS: the control plane's Lambdas behind an HTTP API and a WebSocket API, PostgreSQL behind RDS Proxy,
// the connection registry in DynamoDB, and the simulator hosts as Fargate tasks (an autoscaled service, plus the
// spare hosts the simulator manager starts with RunTask). docs/deploy.md explains it; test/stack.test.ts pins it.
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration, WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

/** The repository root: the Lambdas' manifests and the host image's build context. */
const REPO = path.resolve(import.meta.dirname, '..', '..');
/** The host's internal API and health port (TRADESIM_BIND). */
export const HOST_PORT = 8090;
/** The WebSocket API's stage; its management endpoint ends in it. */
export const WS_STAGE = 'live';
/** The connection registry's index by sign-in (functions/control/src/aws/dynamodb.rs). */
export const FAMILY_INDEX = 'by_family';
/** Characters a generated database password leaves out, so that it can stand in a postgres:// URL unescaped. */
const URL_UNSAFE = ' "#$%&\'()*+,/:;<=>?@[\\]^`{|}~!';

export interface TradesimProps extends cdk.StackProps {
  /** Browser origins allowed to open the WebSocket and call the HTTP API; empty: any. */
  readonly allowedOrigins?: string[];
  /** Simulators per host (TRADESIM_CAPACITY). */
  readonly hostCapacity?: number;
  /** Fargate size of a host: vCPU in units of 1/1024, memory in MiB. */
  readonly hostCpu?: number;
  readonly hostMemoryMiB?: number;
  /** Bounds of the hosts' service. */
  readonly minHosts?: number;
  readonly maxHosts?: number;
  /** Keep the database and the connections table when the stack is deleted. Default false: tear-down removes all. */
  readonly retainData?: boolean;
}

/** Which DynamoDB actions each WebSocket-facing Lambda needs (what its gateway routes call on the registry). */
const REGISTRY_ACTIONS: Record<string, string[]> = {
  auth: ['dynamodb:Query', 'dynamodb:DeleteItem'],
  'ws-connect': ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
  'ws-message': ['dynamodb:GetItem', 'dynamodb:DeleteItem'],
  'ws-disconnect': ['dynamodb:DeleteItem'],
};
/** The Lambdas that close sockets with DeleteConnection: logout and refresh-token reuse (auth), a gone host (ws-message). */
const CLOSES_SOCKETS = ['auth', 'ws-message'];

export class TradesimStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: TradesimProps = {}) {
    super(scope, id, props);
    const capacity = props.hostCapacity ?? 1000;
    const minHosts = props.minHosts ?? 1;
    const maxHosts = props.maxHosts ?? 10;
    const removalPolicy = props.retainData ? cdk.RemovalPolicy.RETAIN : cdk.RemovalPolicy.DESTROY;
    const allowedOrigins = (props.allowedOrigins ?? []).join(',');

    // Network: Lambdas and hosts in private subnets (out through one NAT), the database in isolated ones.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        { name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      ],
    });
    vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    const privateSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const functionsSg = new ec2.SecurityGroup(this, 'FunctionsSg', { vpc, description: 'tradesim Lambdas' });
    const managerSg = new ec2.SecurityGroup(this, 'ManagerSg', { vpc, description: 'tradesim simulator manager' });
    const hostsSg = new ec2.SecurityGroup(this, 'HostsSg', { vpc, description: 'tradesim simulator hosts' });
    const proxySg = new ec2.SecurityGroup(this, 'ProxySg', { vpc, description: 'tradesim RDS Proxy' });
    const databaseSg = new ec2.SecurityGroup(this, 'DatabaseSg', { vpc, description: 'tradesim PostgreSQL' });
    for (const [peer, what] of [
      [functionsSg, 'the Lambdas'],
      [managerSg, 'the manager'],
    ] as const) {
      hostsSg.addIngressRule(peer, ec2.Port.tcp(HOST_PORT), `host internal API from ${what}`);
    }
    for (const [peer, what] of [
      [functionsSg, 'the Lambdas'],
      [managerSg, 'the manager'],
      [hostsSg, 'the hosts'],
    ] as const) {
      proxySg.addIngressRule(peer, ec2.Port.tcp(5432), `PostgreSQL from ${what}`);
    }
    databaseSg.addIngressRule(proxySg, ec2.Port.tcp(5432), 'PostgreSQL from RDS Proxy');

    // Secrets: the access-token signing key (43 alphanumerics decode to its 32 bytes), the hosts' service
    // credential and the connect-ticket key.
    const secret = (name: string, description: string, length: number) =>
      new secretsmanager.Secret(this, name, {
        description,
        generateSecretString: { passwordLength: length, excludePunctuation: true, includeSpace: false },
      });
    const signingKey = secret('SigningKey', 'tradesim access-token signing key (Ed25519 seed, base64)', 43);
    const serviceToken = secret('ServiceToken', 'tradesim hosts internal API bearer credential', 48);
    const ticketSecret = secret('TicketSecret', 'tradesim connect-ticket HMAC key', 48);

    // PostgreSQL, reached only through RDS Proxy. The clients speak plain TCP inside the VPC (tokio-postgres without
    // TLS), the proxy TLS to the database.
    const database = new rds.DatabaseInstance(this, 'Database', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [databaseSg],
      credentials: rds.Credentials.fromGeneratedSecret('tradesim', { excludeCharacters: URL_UNSAFE }),
      databaseName: 'tradesim',
      allocatedStorage: 20,
      storageType: rds.StorageType.GP3,
      storageEncrypted: true,
      backupRetention: cdk.Duration.days(7),
      deletionProtection: props.retainData ?? false,
      removalPolicy,
    });
    const databaseSecret = database.secret!;
    const proxy = database.addProxy('Proxy', {
      secrets: [databaseSecret],
      vpc,
      vpcSubnets: privateSubnets,
      securityGroups: [proxySg],
      requireTLS: false,
    });

    // The connection registry: TTL on expires_at, an index by sign-in.
    const connections = new dynamodb.Table(this, 'Connections', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expires_at',
      removalPolicy,
    });
    connections.addGlobalSecondaryIndex({
      indexName: FAMILY_INDEX,
      partitionKey: { name: 'family', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'connected_at', type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    // The WebSocket API first: the functions need its management endpoint, its routes need the functions.
    const wsApi = new apigwv2.WebSocketApi(this, 'WebSocketApi', { apiName: 'tradesim-stream' });
    const wsEndpoint = `https://${wsApi.apiId}.execute-api.${this.region}.${this.urlSuffix}/${WS_STAGE}`;
    const connectionsArn = (method: 'POST' | 'DELETE') =>
      this.formatArn({
        service: 'execute-api',
        resource: wsApi.apiId,
        resourceName: `${WS_STAGE}/${method}/@connections/*`,
      });

    // CloudFormation resolves these references when it deploys; the values sit encrypted in the functions'
    // configuration, and the functions themselves get no Secrets Manager access.
    const databaseUser = databaseSecret.secretValueFromJson('username').unsafeUnwrap();
    const databasePassword = databaseSecret.secretValueFromJson('password').unsafeUnwrap();
    const functionEnvironment = {
      DATABASE_URL: `postgres://${databaseUser}:${databasePassword}@${proxy.endpoint}:5432/tradesim`,
      TRADESIM_SIGNING_KEY: signingKey.secretValue.unsafeUnwrap(),
      TRADESIM_SERVICE_TOKEN: serviceToken.secretValue.unsafeUnwrap(),
      TRADESIM_WS_ENDPOINT: wsEndpoint,
      TRADESIM_CONNECTIONS_TABLE: connections.tableName,
      TRADESIM_ALLOWED_ORIGINS: allowedOrigins,
      TRADESIM_LOG: 'info',
    };
    const rustFunction = (name: string, description: string) => {
      const logGroup = new logs.LogGroup(this, `${name}-logs`, {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: cdk.RemovalPolicy.DESTROY,
      });
      const fn = new RustFunction(this, name, {
        manifestPath: path.join(REPO, 'functions', name, 'Cargo.toml'),
        binaryName: name,
        architecture: lambda.Architecture.ARM_64,
        description,
        memorySize: 256,
        timeout: cdk.Duration.seconds(10),
        vpc,
        vpcSubnets: privateSubnets,
        securityGroups: [functionsSg],
        environment: functionEnvironment,
        logGroup,
        bundling: { cargoLambdaFlags: ['--locked'] },
      });
      const registryActions = REGISTRY_ACTIONS[name];
      if (registryActions) {
        const resources = registryActions.includes('dynamodb:Query')
          ? [connections.tableArn, `${connections.tableArn}/index/${FAMILY_INDEX}`]
          : [connections.tableArn];
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: registryActions, resources }));
      }
      if (CLOSES_SOCKETS.includes(name)) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: [connectionsArn('DELETE')] }),
        );
      }
      return fn;
    };
    const auth = rustFunction('auth', 'tradesim: register, log in, refresh, log out');
    const sessions = rustFunction('sessions', 'tradesim: sessions and keep-alive');
    const simulators = rustFunction('simulators', 'tradesim: simulators and connect tickets');
    const wsConnect = rustFunction('ws-connect', 'tradesim: WebSocket $connect');
    const wsDisconnect = rustFunction('ws-disconnect', 'tradesim: WebSocket $disconnect');
    const wsMessage = rustFunction('ws-message', 'tradesim: WebSocket $default');
    const functions = [auth, sessions, simulators, wsConnect, wsDisconnect, wsMessage];

    wsApi.addRoute('$connect', { integration: new WebSocketLambdaIntegration('ConnectIntegration', wsConnect) });
    wsApi.addRoute('$disconnect', { integration: new WebSocketLambdaIntegration('DisconnectIntegration', wsDisconnect) });
    wsApi.addRoute('$default', { integration: new WebSocketLambdaIntegration('MessageIntegration', wsMessage) });
    const wsStage = new apigwv2.WebSocketStage(this, 'WebSocketStage', {
      webSocketApi: wsApi,
      stageName: WS_STAGE,
      autoDeploy: true,
      throttle: { rateLimit: 2000, burstLimit: 1000 },
    });

    // The HTTP API: each Lambda serves its paths of the one router.
    const httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: 'tradesim-api',
      corsPreflight: props.allowedOrigins?.length
        ? {
            allowOrigins: props.allowedOrigins,
            allowHeaders: ['authorization', 'content-type'],
            allowMethods: [apigwv2.CorsHttpMethod.ANY],
          }
        : undefined,
    });
    const routes: [string, lambda.IFunction][] = [
      ['/v1/auth/{proxy+}', auth],
      ['/v1/openapi.json', auth],
      ['/v1/sessions', sessions],
      ['/v1/sessions/{proxy+}', sessions],
      ['/v1/simulators', simulators],
      ['/v1/simulators/{proxy+}', simulators],
      ['/v1/tickets', simulators],
    ];
    const integrations = new Map<lambda.IFunction, HttpLambdaIntegration>();
    for (const [routePath, fn] of routes) {
      const integration = integrations.get(fn) ?? new HttpLambdaIntegration(`${fn.node.id}-integration`, fn);
      integrations.set(fn, integration);
      httpApi.addRoutes({ path: routePath, methods: [apigwv2.HttpMethod.ANY], integration });
    }
    const httpStage = httpApi.defaultStage!.node.defaultChild as apigwv2.CfnStage;
    httpStage.defaultRouteSettings = { throttlingRateLimit: 1000, throttlingBurstLimit: 500 };

    // Simulator hosts: Fargate tasks of one image (infra/host/Dockerfile), arm64.
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    const image = ecs.ContainerImage.fromAsset(REPO, {
      file: 'infra/host/Dockerfile',
      platform: Platform.LINUX_ARM64,
      // What the image build does not read (the SPA is served elsewhere).
      exclude: ['target', '**/node_modules', '.git', '.tradesim', 'infra/cdk.out', 'frontend', 'docs', 'artifacts'],
    });
    const runtimePlatform = {
      cpuArchitecture: ecs.CpuArchitecture.ARM64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    };
    const databaseParts = {
      TRADESIM_DB_USER: ecs.Secret.fromSecretsManager(databaseSecret, 'username'),
      TRADESIM_DB_PASSWORD: ecs.Secret.fromSecretsManager(databaseSecret, 'password'),
    };
    const hostLogs = new logs.LogGroup(this, 'HostLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    const hostMetricLogs = new logs.LogGroup(this, 'HostMetricLogs', {
      retention: logs.RetentionDays.ONE_WEEK,
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    const hostTask = new ecs.FargateTaskDefinition(this, 'HostTask', {
      family: 'tradesim-host',
      cpu: props.hostCpu ?? 1024,
      memoryLimitMiB: props.hostMemoryMiB ?? 2048,
      runtimePlatform,
    });
    hostTask.addContainer('host', {
      image,
      essential: true,
      portMappings: [{ containerPort: HOST_PORT }],
      environment: {
        TRADESIM_BIND: `0.0.0.0:${HOST_PORT}`,
        TRADESIM_DB_HOST: proxy.endpoint,
        TRADESIM_CAPACITY: String(capacity),
        TRADESIM_GATEWAY_ENDPOINT: wsEndpoint,
        TRADESIM_ALLOWED_ORIGINS: allowedOrigins,
        TRADESIM_LOG: 'info',
      },
      secrets: {
        ...databaseParts,
        TRADESIM_SERVICE_TOKEN: ecs.Secret.fromSecretsManager(serviceToken),
        TRADESIM_TICKET_SECRET: ecs.Secret.fromSecretsManager(ticketSecret),
      },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'host', logGroup: hostLogs }),
      healthCheck: {
        command: ['CMD-SHELL', `curl -fsS http://127.0.0.1:${HOST_PORT}/health || exit 1`],
        interval: cdk.Duration.seconds(15),
        timeout: cdk.Duration.seconds(5),
        retries: 3,
        startPeriod: cdk.Duration.seconds(90),
      },
      // SIGTERM makes the host snapshot every simulator before it exits.
      stopTimeout: cdk.Duration.seconds(120),
    });
    // The host's Prometheus figures as CloudWatch metrics (namespace Tradesim): simulators per host for
    // autoscaling, step lag for the alarm. The CloudWatch agent drops histograms; the OpenTelemetry collector does not.
    hostTask.addContainer('metrics', {
      image: ecs.ContainerImage.fromRegistry('public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3'),
      essential: false,
      environment: { AOT_CONFIG_CONTENT: collectorConfig(hostMetricLogs.logGroupName) },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'metrics', logGroup: hostLogs }),
      memoryReservationMiB: 128,
    });
    hostMetricLogs.grantWrite(hostTask.taskRole);
    // Only the hosts post to this API's connections; they also close the ones they give up.
    hostTask.addToTaskRolePolicy(
      new iam.PolicyStatement({
        actions: ['execute-api:ManageConnections'],
        resources: [connectionsArn('POST'), connectionsArn('DELETE')],
      }),
    );
    const hosts = new ecs.FargateService(this, 'Hosts', {
      cluster,
      taskDefinition: hostTask,
      desiredCount: minHosts,
      securityGroups: [hostsSg],
      vpcSubnets: privateSubnets,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
    });
    const simulatorsPerHost = new cloudwatch.Metric({
      namespace: 'Tradesim',
      metricName: 'tradesim_host_simulators',
      dimensionsMap: { job: 'tradesim-host' },
      statistic: cloudwatch.Stats.AVERAGE,
      period: cdk.Duration.minutes(1),
    });
    hosts
      .autoScaleTaskCount({ minCapacity: minHosts, maxCapacity: maxHosts })
      .scaleToTrackCustomMetric('SimulatorsPerHost', {
        metric: simulatorsPerHost,
        // Three quarters full: room for the spare capacity the manager keeps while a new task starts.
        targetValue: Math.floor(capacity * 0.75),
        scaleOutCooldown: cdk.Duration.minutes(1),
        // Scaling in moves simulators (their users resume on another host), so not eagerly.
        scaleInCooldown: cdk.Duration.minutes(15),
      });

    // The simulator manager: one task, never two (heartbeats, spare hosts through ECS RunTask, the sweeper).
    const managerLogs = new logs.LogGroup(this, 'ManagerLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    const managerTask = new ecs.FargateTaskDefinition(this, 'ManagerTask', {
      family: 'tradesim-manager',
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform,
    });
    managerTask.addContainer('manager', {
      image,
      command: ['tradesim-manager'],
      environment: {
        TRADESIM_DB_HOST: proxy.endpoint,
        TRADESIM_ECS_CLUSTER: cluster.clusterName,
        TRADESIM_ECS_TASK_FAMILY: hostTask.family,
        TRADESIM_ECS_SUBNETS: vpc.selectSubnets(privateSubnets).subnetIds.join(','),
        TRADESIM_ECS_SECURITY_GROUPS: hostsSg.securityGroupId,
        TRADESIM_HOST_PORT: String(HOST_PORT),
        TRADESIM_MAX_HOSTS: String(maxHosts),
        TRADESIM_LOG: 'info',
      },
      secrets: { ...databaseParts, TRADESIM_SERVICE_TOKEN: ecs.Secret.fromSecretsManager(serviceToken) },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'manager', logGroup: managerLogs }),
    });
    const taskArns = this.formatArn({ service: 'ecs', resource: 'task', resourceName: `${cluster.clusterName}/*` });
    const onThisCluster = { ArnEquals: { 'ecs:cluster': cluster.clusterArn } };
    managerTask.addToTaskRolePolicy(
      new iam.PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [
          this.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${hostTask.family}:*` }),
        ],
        conditions: onThisCluster,
      }),
    );
    managerTask.addToTaskRolePolicy(
      new iam.PolicyStatement({ actions: ['ecs:DescribeTasks', 'ecs:StopTask'], resources: [taskArns] }),
    );
    managerTask.addToTaskRolePolicy(
      new iam.PolicyStatement({ actions: ['ecs:ListTasks'], resources: ['*'], conditions: onThisCluster }),
    );
    managerTask.addToTaskRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [hostTask.taskRole.roleArn, hostTask.obtainExecutionRole().roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    new ecs.FargateService(this, 'Manager', {
      cluster,
      taskDefinition: managerTask,
      desiredCount: 1,
      securityGroups: [managerSg],
      vpcSubnets: privateSubnets,
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
    });

    // Alarms: server errors, throttling, and simulators falling behind real time.
    const alarm = (name: string, metric: cloudwatch.IMetric, threshold: number, description: string) =>
      new cloudwatch.Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
    const fiveMinutes = { period: cdk.Duration.minutes(5) };
    alarm('HttpApi5xx', httpApi.metricServerError(fiveMinutes), 5, 'the HTTP API answered 5xx');
    alarm(
      'WebSocket5xx',
      new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName: 'IntegrationError',
        dimensionsMap: { ApiId: wsApi.apiId, Stage: wsStage.stageName },
        statistic: cloudwatch.Stats.SUM,
        ...fiveMinutes,
      }),
      5,
      'WebSocket route integrations failed',
    );
    alarm(
      'LambdaThrottles',
      new cloudwatch.MathExpression({
        expression: functions.map((_, i) => `t${i}`).join(' + '),
        usingMetrics: Object.fromEntries(functions.map((fn, i) => [`t${i}`, fn.metricThrottles(fiveMinutes)])),
        ...fiveMinutes,
      }),
      1,
      'Lambda invocations were throttled',
    );
    alarm(
      'RegistryThrottles',
      connections.metricThrottledRequestsForOperations({
        operations: [
          dynamodb.Operation.PUT_ITEM,
          dynamodb.Operation.GET_ITEM,
          dynamodb.Operation.DELETE_ITEM,
          dynamodb.Operation.QUERY,
        ],
        ...fiveMinutes,
      }),
      1,
      'DynamoDB throttled the connection registry',
    );
    alarm(
      'StepLag',
      new cloudwatch.Metric({
        namespace: 'Tradesim',
        metricName: 'tradesim_host_step_lag_seconds',
        dimensionsMap: { job: 'tradesim-host' },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: cdk.Duration.minutes(1),
      }),
      1,
      'a simulator trails real time by a second or more',
    );

    new cdk.CfnOutput(this, 'HttpApiUrl', { value: httpApi.apiEndpoint });
    new cdk.CfnOutput(this, 'WebSocketUrl', { value: wsStage.url });
    new cdk.CfnOutput(this, 'ConnectionsTable', { value: connections.tableName });
  }
}

/** The OpenTelemetry collector's configuration: scrape the host's /metrics, write the two figures as EMF. */
function collectorConfig(logGroupName: string): string {
  return [
    'receivers:',
    '  prometheus:',
    '    config:',
    '      scrape_configs:',
    '        - job_name: tradesim-host',
    '          scrape_interval: 30s',
    '          static_configs:',
    `            - targets: ["127.0.0.1:${HOST_PORT}"]`,
    'exporters:',
    '  awsemf:',
    '    namespace: Tradesim',
    `    log_group_name: "${logGroupName}"`,
    '    dimension_rollup_option: NoDimensionRollup',
    '    metric_declarations:',
    '      - dimensions: [[job]]',
    '        metric_name_selectors: ["^tradesim_host_simulators$", "^tradesim_host_step_lag_seconds$"]',
    'service:',
    '  pipelines:',
    '    metrics:',
    '      receivers: [prometheus]',
    '      exporters: [awsemf]',
    '',
  ].join('\n');
}
