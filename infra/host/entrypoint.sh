#!/bin/sh
# Fills in what ECS cannot template, then runs the command (tradesim-host or tradesim-manager).
set -eu

# The host id is ecs-<task id>, the name the manager's ECS launcher gives the task (functions/control/src/aws/ecs.rs).
if [ -z "${TRADESIM_HOST_ID:-}" ] && [ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ]; then
  task_arn=$(curl -fsS "$ECS_CONTAINER_METADATA_URI_V4/task" | sed -n 's/.*"TaskARN": *"\([^"]*\)".*/\1/p')
  TRADESIM_HOST_ID="ecs-${task_arn##*/}"
  export TRADESIM_HOST_ID
fi

# DATABASE_URL from the proxy's address and the credentials ECS injects from Secrets Manager (generated without
# characters a URL would need escaped).
if [ -z "${DATABASE_URL:-}" ] && [ -n "${TRADESIM_DB_HOST:-}" ]; then
  DATABASE_URL="postgres://${TRADESIM_DB_USER}:${TRADESIM_DB_PASSWORD}@${TRADESIM_DB_HOST}:5432/${TRADESIM_DB_NAME:-tradesim}"
  export DATABASE_URL
fi

exec "$@"
