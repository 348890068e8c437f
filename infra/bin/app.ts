// The CDK app: one stack. `npm run deploy` (make deploy) deploys it, `npm run destroy` (make destroy) removes it.
import * as cdk from 'aws-cdk-lib';
import { TradesimStack } from '../lib/tradesim-stack.ts';

const app = new cdk.App();
const origins = app.node.tryGetContext('allowedOrigins') as string | undefined;
new TradesimStack(app, 'Tradesim', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  allowedOrigins: origins ? origins.split(',') : [],
});
