#!/usr/bin/env bash
# Starts Harrier on this host with embedded defaults (make run). For now this
# is the router alone: it listens on loopback for sensors (gRPC :2802) and for
# Falco's http_output (HTTP :2801), stores alerts under .run/router and prints
# them to stdout and .run/router/alerts.jsonl. Override anything with
# HARRIER_ROUTER_* variables or a file in HARRIER_ROUTER_CONFIG.
set -euo pipefail
cd "$(dirname "$0")/.."

export HARRIER_ROUTER_DATA_DIR=${HARRIER_ROUTER_DATA_DIR:-$PWD/.run/router}
export HARRIER_ROUTER_GRPC_ADDRESS=${HARRIER_ROUTER_GRPC_ADDRESS:-127.0.0.1:2802}
export HARRIER_ROUTER_HTTP_ADDRESS=${HARRIER_ROUTER_HTTP_ADDRESS:-127.0.0.1:2801}
export HARRIER_ROUTER_LOG_FORMAT=${HARRIER_ROUTER_LOG_FORMAT:-text}

echo "harrier: router on grpc://$HARRIER_ROUTER_GRPC_ADDRESS and http://$HARRIER_ROUTER_HTTP_ADDRESS (data in $HARRIER_ROUTER_DATA_DIR)"
echo "harrier: try   curl -d @- http://$HARRIER_ROUTER_HTTP_ADDRESS/ <<< '{\"rule\":\"Test\",\"priority\":\"Warning\",\"output\":\"hello\",\"source\":\"syscall\",\"time\":\"2026-01-01T00:00:00.000000000Z\",\"output_fields\":{}}'"
echo "harrier:       bin/harrierctl subscribe --router $HARRIER_ROUTER_GRPC_ADDRESS"
exec bin/harrier-router run
