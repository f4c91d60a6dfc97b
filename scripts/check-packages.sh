#!/usr/bin/env bash
# Checks that the Debian packages scripts/setup.sh installs provide what the
# build and the tests use, as they would on a fresh Debian 12 machine.
#
# setup.sh installs with --no-install-recommends, so a package that only a
# Recommends pulls in is absent on a fresh machine even when it is present
# here (protobuf-compiler recommends, but does not depend on, libprotobuf-dev,
# which holds google/protobuf/*.proto). For each requirement, a command or a
# file, this script finds the package owning it on this machine (dpkg -S) and
# fails unless that package is
#   - listed in setup.sh's pkgs=(...),
#   - in the Depends/Pre-Depends closure of the listed packages (apt-cache
#     depends --recurse; alternatives "a | b" count both, a slight
#     over-approximation), or
#   - on every Debian system (Essential: yes or Priority: required).
# Requirements: the table below, plus what the sources ask for: the
# google/protobuf/*.proto imports of proto/ and the <...> includes of bpf/.
# Run after setup.sh (CI does); every requirement must then be present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Commands the Makefile, the go:generate lines and the tests run.
commands=(
	make git curl                 # Makefile, setup, module downloads
	protoc                        # make generate-proto
	clang llvm-strip bpftool      # make generate-bpf (bpf2go), make vmlinux-h, the ia32 capture test
	kcat                          # router Kafka end-to-end tests
	ssh ip unshare script         # live rule tests (ssh to a netns, unshare, a pty via script)
	sh bash find grep ln shred tar id cat # live rule tests' actions
)
# Files the build reads.
files=(
	/usr/sbin/update-ca-certificates     # CA certificates: TLS to the Go module proxy
	/usr/lib/x86_64-linux-gnu/crt1.o     # clang links the ia32 test program (libc6-dev)
)
while read -r imp; do files+=("/usr/include/$imp"); done < <(
	grep -ho '^import "google/protobuf/[^"]*"' proto/harrier/v1/*.proto | sed 's/^import "//; s/"$//' | sort -u)
while read -r inc; do files+=("/usr/include/$inc"); done < <(
	grep -ho '^#include <[^>]*>' bpf/*.c bpf/*.h | sed 's/^#include <//; s/>$//' | sort -u)

mapfile -t listed < <(sed -n 's/^pkgs=(\(.*\))$/\1/p' scripts/setup.sh | tr ' ' '\n' | sed '/^$/d')
if ((${#listed[@]} == 0)); then
	echo "check-packages: no pkgs=(...) line in scripts/setup.sh" >&2
	exit 1
fi

# The packages a --no-install-recommends install of the list brings.
declare -A closure=()
while read -r p; do
	closure[${p%%:*}]=1
done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
	--no-replaces --no-enhances "${listed[@]}" 2>/dev/null | grep -v '^ ' | grep -v '^<')
for p in "${listed[@]}"; do closure[$p]=1; done

# candidates PATH: PATH as given, resolved, and with and without /usr (on a
# merged-/usr system dpkg knows a file under one of the two names).
candidates() {
	local p out=("$1" "$(readlink -f "$1")")
	for p in "${out[@]}"; do
		case $p in
		/usr/*) out+=("${p#/usr}") ;;
		*) out+=("/usr$p") ;;
		esac
	done
	printf '%s\n' "${out[@]}"
}

# Each requirement as "kind name path"; an empty path when it is missing.
reqs=()
for c in "${commands[@]}"; do reqs+=("command $c $(command -v "$c" || true)"); done
for f in "${files[@]}"; do reqs+=("file $f $f"); done

# One dpkg -S for every candidate path (each call reads dpkg's whole file
# database). Lines are "pkg[:arch][, pkg2...]: path"; "diversion by ..."
# lines (dash diverts /bin/sh) are not ownership.
declare -A owner=()
mapfile -t paths < <(for r in "${reqs[@]}"; do
	read -r _ _ path <<<"$r"
	[[ -n $path && -e $path ]] && candidates "$path"
done | sort -u)
while IFS= read -r line; do
	[[ $line == diversion\ by* ]] && continue
	pkg=${line%%: /*}
	pkg=${pkg%%,*}
	owner[${line#*: }]=${pkg%%:*}
done < <(dpkg -S "${paths[@]}" 2>/dev/null || true)

fail=0
for r in "${reqs[@]}"; do
	read -r kind name path <<<"$r"
	if [[ -z $path || ! -e $path ]]; then
		echo "check-packages: $kind $name not found; run scripts/setup.sh (or add its package there)" >&2
		fail=1
		continue
	fi
	pkg=
	while read -r c; do
		[[ -n ${owner[$c]:-} ]] && { pkg=${owner[$c]}; break; }
	done < <(candidates "$path")
	if [[ -z $pkg ]]; then
		echo "check-packages: $kind $name ($path) belongs to no Debian package; install it from a package listed in scripts/setup.sh" >&2
		fail=1
		continue
	fi
	[[ -n ${closure[$pkg]:-} ]] && continue
	if dpkg-query -W -f='${Essential} ${Priority}\n' "$pkg" 2>/dev/null | grep -qE '^yes |required$'; then
		continue
	fi
	echo "check-packages: $kind $name comes from $pkg, which a fresh machine lacks: add $pkg to pkgs in scripts/setup.sh" >&2
	fail=1
done
if ((fail)); then
	exit 1
fi
echo "check-packages: ${#commands[@]} commands and ${#files[@]} files come from scripts/setup.sh's ${#listed[@]} packages or the base system"
