# syntax=docker/dockerfile:1
# harrier-sensor: the per-node daemon. Build from the repository root:
#   docker build -f deploy/docker/sensor.Dockerfile -t harrier-sensor .
#
# The eBPF objects are committed (bpf2go embeds them in the Go package), so
# no clang is needed here and the binary is a static, CGO-free Go program.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# The version the binaries print (make images passes git describe).
ARG VERSION=devel
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# The build uses the repository's Go workspace (go.work), the module
# versions CI tests; go.work names all four modules, so the other modules'
# go.mod files come along (its sources do not). Module downloads first, so source
# edits keep this layer cached.
COPY go.work ./
COPY proto/go.mod proto/go.sum proto/
COPY sensor/go.mod sensor/go.sum sensor/
COPY router/go.mod router/go.sum router/
COPY rules/go.mod rules/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY proto/ proto/
COPY sensor/ sensor/
# The default rules, embedded in the binary (package rules).
COPY rules/*.go rules/*.yaml rules/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    cd sensor && go build -buildvcs=false -ldflags="-s -w -X github.com/harrier-security/harrier/proto/buildinfo.version=${VERSION}" -o /out/harrier-sensor ./cmd/harrier-sensor

# distroless/static: CA certificates, tzdata and /etc/passwd, no shell.
# The sensor runs as root inside the container because loading eBPF
# programs needs CAP_BPF/CAP_PERFMON/CAP_SYS_RESOURCE; the Helm chart grants
# exactly those (not privileged) and drops everything else.
FROM gcr.io/distroless/static-debian12:latest
COPY --from=build /out/harrier-sensor /usr/bin/harrier-sensor
# Harrier's rules, the default of rules.files (/etc/harrier/rules.d).
COPY rules/*.yaml /etc/harrier/rules.d/
# Audit webhook, metrics/health.
EXPOSE 8765 8766
ENTRYPOINT ["/usr/bin/harrier-sensor"]
CMD ["run", "-c", "/etc/harrier/sensor.yaml"]
