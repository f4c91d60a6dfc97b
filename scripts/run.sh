#!/usr/bin/env bash
# make run: starts Harrier on this host with embedded defaults, no
# Elasticsearch or Kafka needed.
#   - harrier-router in the background: gRPC for sensors on 127.0.0.1:2802,
#     Falco's http_output on 127.0.0.1:2801, /healthz and /metrics on
#     127.0.0.1:2803, alerts printed on stdout and
#     written to .run/router/alerts.jsonl (durable log in .run/router);
#   - harrier-sensor in the foreground (scripts/run-sensor.sh): Harrier's
#     rules/, the eBPF syscall source when root, the Kubernetes audit webhook
#     on 127.0.0.1:8765/k8s_audit, streaming every alert to the router.
# Ctrl-C stops both. HARRIER_ROUTER_* variables configure the router, HARRIER_*
# variables and extra arguments (-o key=value) the sensor.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export HARRIER_ROUTER_DATA_DIR=${HARRIER_ROUTER_DATA_DIR:-$root/.run/router}
export HARRIER_ROUTER_GRPC_ADDRESS=${HARRIER_ROUTER_GRPC_ADDRESS:-127.0.0.1:2802}
export HARRIER_ROUTER_HTTP_ADDRESS=${HARRIER_ROUTER_HTTP_ADDRESS:-127.0.0.1:2801}
export HARRIER_ROUTER_HTTP_METRICS_ADDRESS=${HARRIER_ROUTER_HTTP_METRICS_ADDRESS:-127.0.0.1:2803}
export HARRIER_ROUTER_LOG_FORMAT=${HARRIER_ROUTER_LOG_FORMAT:-text}
export HARRIER_ROUTER_ADDR=$HARRIER_ROUTER_GRPC_ADDRESS
export HARRIER_STATE_DIR=${HARRIER_STATE_DIR:-$root/.run/sensor}
mkdir -p "$HARRIER_ROUTER_DATA_DIR" "$HARRIER_STATE_DIR"

bin/harrier-router run &
router=$!
trap 'kill "$router" 2>/dev/null; wait "$router" 2>/dev/null || true' EXIT

# Wait until the router accepts connections before the sensor starts (the
# sensor would spool and retry anyway; this just keeps the first lines tidy).
host=${HARRIER_ROUTER_GRPC_ADDRESS%:*} port=${HARRIER_ROUTER_GRPC_ADDRESS##*:}
for _ in $(seq 100); do
	kill -0 "$router" 2>/dev/null || { echo "harrier: the router exited; see above" >&2; exit 1; }
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
	sleep 0.1
done

cat <<MSG
harrier: router on grpc://$HARRIER_ROUTER_GRPC_ADDRESS (alerts also in $HARRIER_ROUTER_DATA_DIR/alerts.jsonl)
harrier: first alerts, from another terminal:
  syscall (as root):  cat /etc/shadow > /dev/null
  k8s audit:          curl -s -H 'Content-Type: application/json' --data-binary @deploy/compose/examples/audit-exec.json http://127.0.0.1:8765/k8s_audit
  live stream:        bin/harrierctl subscribe --router $HARRIER_ROUTER_GRPC_ADDRESS -o text
harrier: console: http://$HARRIER_ROUTER_HTTP_ADDRESS/ui/
MSG
# The router prints every alert; the sensor need not print them again.
HARRIER_SENSOR_STDOUT=${HARRIER_SENSOR_STDOUT:-false} HARRIER_SENSOR_BIN=$root/bin/harrier-sensor bash scripts/run-sensor.sh "$@"
