#!/usr/bin/env bash
# Starts harrier-sensor on this host with the quickstart defaults:
#   - rules: the repository's rules/ directory,
#   - k8s_audit webhook on 127.0.0.1:8765 (/k8s_audit),
#   - metrics, /healthz, /readyz on 127.0.0.1:8766,
#   - alerts printed on stdout and streamed to the router at
#     $HARRIER_ROUTER_ADDR (default 127.0.0.1:2802) through a spool in
#     .harrier/spool (kept across restarts),
#   - the eBPF syscall source when run as root, otherwise switched off (with
#     a note: it needs CAP_BPF and CAP_PERFMON).
# Extra arguments go to `harrier-sensor run` (e.g. -o log.level=debug).
# Every setting can also come from HARRIER_* variables (see
# sensor/harrier-sensor.example.yaml).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${HARRIER_SENSOR_BIN:-$root/bin/harrier-sensor}
if [[ ! -x $bin ]]; then
	mkdir -p "$root/bin"
	(cd "$root/sensor" && go build -o "$bin" ./cmd/harrier-sensor)
fi
state=${HARRIER_STATE_DIR:-$root/.harrier}
mkdir -p "$state"

args=(
	-o "rules.files=$root/rules"
	-o "sources.k8s_audit.listen=${HARRIER_WEBHOOK_LISTEN:-127.0.0.1:8765}"
	-o "metrics.listen=${HARRIER_METRICS_LISTEN:-127.0.0.1:8766}"
	-o "outputs.stdout.enabled=${HARRIER_SENSOR_STDOUT:-true}"
	-o "outputs.grpc.enabled=${HARRIER_ROUTER_ENABLED:-true}"
	-o "outputs.grpc.address=${HARRIER_ROUTER_ADDR:-127.0.0.1:2802}"
	-o "outputs.grpc.spool.dir=$state/spool"
)
if [[ $(id -u) -ne 0 ]]; then
	echo "run-sensor: not root: the eBPF syscall source is off (it needs CAP_BPF and CAP_PERFMON); the audit webhook runs" >&2
	args+=(-o sources.syscall.enabled=false)
fi
# An explicit -c FILE is the user's; otherwise no /etc file is read.
config=${HARRIER_CONFIG:-}
if [[ -z $config ]]; then
	config=$state/sensor.yaml
	[[ -f $config ]] || echo "{}" >"$config"
fi
exec "$bin" run -c "$config" "${args[@]}" "$@"
