// Synthesizes the app offline (no asset bundling, no AWS account) and checks the template.
import * as cdk from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAMILY_INDEX, HOST_PORT, TradesimStack, WS_STAGE } from '../lib/tradesim-stack.ts';

let template: Template;

beforeAll(() => {
  // An empty bundling list skips cargo lambda (and Docker) for every stack.
  const app = new cdk.App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new TradesimStack(app, 'Test', {
    env: { account: '123456789012', region: 'eu-west-1' },
    allowedOrigins: ['https://app.example.com'],
  });
  template = Template.fromStack(stack);
});

type Statement = { Action: string | string[]; Resource?: unknown; Condition?: unknown };
type Resource = { Type: string; Properties: Record<string, any> };

const actions = (statement: Statement) => [statement.Action].flat();

/** The statements of every inline policy attached to the role whose logical id starts with `rolePrefix`. */
function statementsOf(rolePrefix: string): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((policy) => policy.Properties.Roles.some((role: { Ref: string }) => role.Ref.startsWith(rolePrefix)))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** Logical ids of the roles whose policies allow `action`. */
function rolesAllowing(action: string): string[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((policy) => (policy.Properties.PolicyDocument.Statement as Statement[]).some((s) => actions(s).includes(action)))
    .flatMap((policy) => policy.Properties.Roles.map((role: { Ref: string }) => role.Ref))
    .sort();
}

/** The `.../<stage>/<METHOD>/@connections/*` ARNs a role may manage, as their last part. */
function manageableConnections(rolePrefix: string): string[] {
  return statementsOf(rolePrefix)
    .filter((s) => actions(s).includes('execute-api:ManageConnections'))
    .flatMap((s) => [s.Resource].flat())
    .map((resource) => JSON.stringify(resource).match(/\/(live\/[A-Z]+\/@connections\/\*)/)?.[1] ?? 'unexpected')
    .sort();
}

describe('the Lambdas', () => {
  it('are six arm64 provided.al2023 functions in the VPC', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Runtime: 'provided.al2023', Architectures: ['arm64'], Handler: 'bootstrap' },
    });
    expect(Object.keys(functions)).toHaveLength(6);
    for (const fn of Object.values(functions) as Resource[]) {
      expect(fn.Properties.VpcConfig.SubnetIds).toHaveLength(2);
      expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual([
        'DATABASE_URL',
        'TRADESIM_ALLOWED_ORIGINS',
        'TRADESIM_CONNECTIONS_TABLE',
        'TRADESIM_LOG',
        'TRADESIM_SERVICE_TOKEN',
        'TRADESIM_SIGNING_KEY',
        'TRADESIM_WS_ENDPOINT',
      ]);
    }
  });

  it('reach PostgreSQL through RDS Proxy and get the signing key from Secrets Manager at deploy time', () => {
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function')) as Resource[];
    const variables = JSON.stringify(fn.Properties.Environment.Variables);
    expect(variables).toContain('postgres://{{resolve:secretsmanager:');
    expect(variables).toMatch(/DatabaseProxy[0-9A-F]+","Endpoint"/);
    expect(variables).toMatch(/"TRADESIM_SIGNING_KEY":\{"Fn::Join":\["",\["\{\{resolve:secretsmanager:",\{"Ref":"SigningKey/);
    expect(variables).toContain(`/${WS_STAGE}`);
    expect(variables).toContain('"TRADESIM_ALLOWED_ORIGINS":"https://app.example.com"');
  });

  it('each read only the registry operations their routes call, and none reads Secrets Manager', () => {
    const registryActions = (prefix: string) =>
      statementsOf(prefix)
        .flatMap(actions)
        .filter((action) => action.startsWith('dynamodb:'))
        .sort();
    expect(registryActions('authServiceRole')).toEqual(['dynamodb:DeleteItem', 'dynamodb:Query']);
    expect(registryActions('wsconnectServiceRole')).toEqual(['dynamodb:DeleteItem', 'dynamodb:PutItem']);
    expect(registryActions('wsmessageServiceRole')).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem']);
    expect(registryActions('wsdisconnectServiceRole')).toEqual(['dynamodb:DeleteItem']);
    expect(registryActions('sessionsServiceRole')).toEqual([]);
    expect(registryActions('simulatorsServiceRole')).toEqual([]);
    const queryResources = JSON.stringify(statementsOf('authServiceRole').find((s) => actions(s).includes('dynamodb:Query'))?.Resource);
    expect(queryResources).toContain(`/index/${FAMILY_INDEX}`);
    for (const prefix of ['auth', 'sessions', 'simulators', 'wsconnect', 'wsdisconnect', 'wsmessage']) {
      expect(statementsOf(`${prefix}ServiceRole`).flatMap(actions)).not.toContain('secretsmanager:GetSecretValue');
    }
  });
});

describe('the APIs', () => {
  it('route the HTTP paths to their Lambdas', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as Resource[];
    const keys = routes.map((route) => route.Properties.RouteKey).sort();
    expect(keys).toEqual([
      '$connect',
      '$default',
      '$disconnect',
      'ANY /v1/auth/{proxy+}',
      'ANY /v1/openapi.json',
      'ANY /v1/sessions',
      'ANY /v1/sessions/{proxy+}',
      'ANY /v1/simulators',
      'ANY /v1/simulators/{proxy+}',
      'ANY /v1/tickets',
    ]);
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: WS_STAGE, AutoDeploy: true });
  });

  it('let only the hosts post to the WebSocket connections; two Lambdas may close them', () => {
    expect(manageableConnections('HostTaskTaskRole')).toEqual(['live/DELETE/@connections/*', 'live/POST/@connections/*']);
    expect(manageableConnections('authServiceRole')).toEqual(['live/DELETE/@connections/*']);
    expect(manageableConnections('wsmessageServiceRole')).toEqual(['live/DELETE/@connections/*']);
    const managers = rolesAllowing('execute-api:ManageConnections');
    expect(managers).toHaveLength(3);
    expect(managers.filter((role) => role.startsWith('HostTask'))).toHaveLength(1);
  });
});

describe('the data', () => {
  it('keeps connections in DynamoDB with TTL and an index by sign-in', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: FAMILY_INDEX,
          KeySchema: [
            { AttributeName: 'family', KeyType: 'HASH' },
            { AttributeName: 'connected_at', KeyType: 'RANGE' },
          ],
        }),
      ],
    });
  });

  it('runs PostgreSQL in isolated subnets behind RDS Proxy, encrypted', () => {
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'postgres',
      DBName: 'tradesim',
      StorageEncrypted: true,
      PubliclyAccessible: false,
    });
    template.hasResourceProperties('AWS::RDS::DBProxy', { EngineFamily: 'POSTGRESQL', RequireTLS: false });
    const ingress = template.findResources('AWS::EC2::SecurityGroupIngress', {
      Properties: { FromPort: 5432, GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseSg'), 'GroupId'] } },
    });
    expect(Object.values(ingress).map((rule: any) => rule.Properties.SourceSecurityGroupId['Fn::GetAtt'][0])).toEqual([
      expect.stringMatching(/^ProxySg/),
    ]);
  });

  it('generates the JWT signing key, the service credential and the ticket key as secrets', () => {
    const secrets = template.findResources('AWS::SecretsManager::Secret');
    const lengths = Object.entries(secrets)
      .filter(([id]) => /^(SigningKey|ServiceToken|TicketSecret)/.test(id))
      .map(([, secret]: [string, any]) => secret.Properties.GenerateSecretString.PasswordLength)
      .sort();
    expect(lengths).toEqual([43, 48, 48]);
  });
});

describe('the hosts', () => {
  it('run as an arm64 Fargate service with a health check and a graceful stop', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'tradesim-host',
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({
          Name: 'host',
          PortMappings: [Match.objectLike({ ContainerPort: HOST_PORT })],
          HealthCheck: Match.objectLike({ Command: ['CMD-SHELL', Match.stringLikeRegexp('/health')] }),
          StopTimeout: 120,
          Secrets: Match.arrayWith([Match.objectLike({ Name: 'TRADESIM_SERVICE_TOKEN' })]),
        }),
      ]),
    });
    template.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE', DesiredCount: 1 });
  });

  it('scale on simulators per host', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 1,
      MaxCapacity: 10,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 750,
        CustomizedMetricSpecification: Match.objectLike({
          Namespace: 'Tradesim',
          MetricName: 'tradesim_host_simulators',
          Statistic: 'Average',
        }),
      }),
    });
  });

  it('are launched by the manager only from their own task definition on this cluster', () => {
    const manager = statementsOf('ManagerTaskTaskRole');
    const runTask = manager.find((s) => actions(s).includes('ecs:RunTask'))!;
    expect(JSON.stringify(runTask.Resource)).toContain('task-definition/tradesim-host:*');
    expect(runTask.Condition).toHaveProperty('ArnEquals');
    expect(manager.flatMap(actions).sort()).toEqual([
      'ecs:DescribeTasks',
      'ecs:ListTasks',
      'ecs:RunTask',
      'ecs:StopTask',
      'iam:PassRole',
    ]);
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 1, DeploymentConfiguration: Match.objectLike({ MaximumPercent: 100 }) });
  });
});

describe('operations', () => {
  it('alarms on 5xx, throttles and step lag', () => {
    const alarms = Object.keys(template.findResources('AWS::CloudWatch::Alarm'))
      .map((id) => id.replace(/[0-9A-F]{8}$/, ''))
      .sort();
    expect(alarms).toEqual(['HttpApi5xx', 'LambdaThrottles', 'RegistryThrottles', 'StepLag', 'WebSocket5xx']);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'tradesim_host_step_lag_seconds',
      Statistic: 'Maximum',
      Threshold: 1,
    });
  });

  it('keeps every log group for a bounded time', () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup')) as Resource[];
    expect(groups.length).toBeGreaterThanOrEqual(9);
    for (const group of groups) {
      expect(group.Properties.RetentionInDays).toBeGreaterThan(0);
    }
  });
});
