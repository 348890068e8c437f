#!/bin/sh
# The connections table as infra/ declares it (functions/control/src/aws/dynamodb.rs): key id, TTL on expires_at,
# the index by sign-in. Runs inside the LocalStack container, where awslocal is installed.
set -eu
awslocal dynamodb create-table \
  --table-name tradesim-connections \
  --billing-mode PAY_PER_REQUEST \
  --attribute-definitions AttributeName=id,AttributeType=S AttributeName=family,AttributeType=S \
    AttributeName=connected_at,AttributeType=N \
  --key-schema AttributeName=id,KeyType=HASH \
  --global-secondary-indexes \
    'IndexName=by_family,KeySchema=[{AttributeName=family,KeyType=HASH},{AttributeName=connected_at,KeyType=RANGE}],Projection={ProjectionType=ALL}'
awslocal dynamodb update-time-to-live \
  --table-name tradesim-connections \
  --time-to-live-specification Enabled=true,AttributeName=expires_at
