# syntax=docker/dockerfile:1
# harrier-router: the central tier. Build from the repository root:
#   docker build -f deploy/docker/router.Dockerfile -t harrier-router .

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
COPY router/ router/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    cd router && go build -buildvcs=false -ldflags="-s -w -X github.com/harrier-security/harrier/proto/buildinfo.version=${VERSION}" -o /out/harrier-router ./cmd/harrier-router \
    && go build -buildvcs=false -ldflags="-s -w -X github.com/harrier-security/harrier/proto/buildinfo.version=${VERSION}" -o /out/harrierctl ./cmd/harrierctl \
    && mkdir -p /out/data

# distroless/static:nonroot runs as uid 65532 with no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/harrier-router /out/harrierctl /usr/bin/
# The durable log (journal, cursors, dead letters); mount a volume here.
COPY --from=build --chown=65532:65532 /out/data /var/lib/harrier-router
USER 65532:65532
# gRPC ingest/subscriptions, Falco HTTP ingest, /healthz and /metrics
# (http.metrics_address: loopback unless the config opens it, e.g. ":2803").
EXPOSE 2802 2801 2803
ENTRYPOINT ["/usr/bin/harrier-router"]
CMD ["run", "--config", "/etc/harrier/router.yaml"]
