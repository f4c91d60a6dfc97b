#!/usr/bin/env bash
# Installs what building and testing Harrier needs on a fresh Debian 12
# machine: Debian packages (when missing, as root) and the pinned Go tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# protoc, libprotobuf-dev (google/protobuf/*.proto, only a Recommends of
# protoc): proto generation; clang/llvm/libbpf-dev/bpftool: eBPF generation;
# kcat: an independent Kafka client used by the router's end-to-end tests.
# openssh-client, iproute2, util-linux (unshare): the live Falco-rule tests.
# rpm: the packaging test (rpm -qlp).
# containerd, runc, busybox-static: the container-metadata end-to-end test.
# rsyslog: the router syslog output's test peer.
# chromium (+ fonts-dejavu-core): the console's browser tests (router/e2e/console).
pkgs=(make git protobuf-compiler libprotobuf-dev clang llvm libbpf-dev bpftool kcat ca-certificates curl openssh-client iproute2 util-linux containerd runc busybox-static rpm rsyslog rsyslog-gnutls chromium fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "setup: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "setup: Go 1.26 not found (expected /usr/local/go)" >&2; exit 1; }
# Pinned Go tools into .tools/: protoc plugins, staticcheck, and helm for the
# chart checks (built from the Go module proxy once; skipped when in place).
make --no-print-directory tools >/dev/null
