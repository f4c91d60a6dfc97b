# Harrier build. Run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Pinned code generators and linters, installed into .tools/ by `make tools`.
PROTOC_GEN_GO_VERSION      := v1.36.11
PROTOC_GEN_GO_GRPC_VERSION := v1.6.1
STATICCHECK_VERSION        := v0.8.1
# gotestsum runs `go test -json` for make test and prints the summary.
GOTESTSUM_VERSION          := v1.13.0
# helm for the chart checks (make helm-lint, make test-deploy). Built from the
# Go module proxy; the ldflags give it the version and the Kubernetes
# version (k8s.io modules v0.37 = Kubernetes 1.37) its release builds carry.
HELM_VERSION := v3.22.0
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37

TOOLS   := $(CURDIR)/.tools
MODULES := proto sensor router rules
BIN     := $(CURDIR)/bin
export PATH := $(TOOLS):$(PATH)

# -race is cheap enough for the unit suites; set RACE= to turn it off.
RACE ?= -race
# Go test flags added by callers (e.g. TESTFLAGS=-short).
TESTFLAGS ?=
# Test output: one line per package, failing tests' output in full, then a
# summary: counts of tests run, skipped and failed, with every skipped and
# failed test's name and message. The go test -json stream is kept in .test/.
GOTESTSUM = $(TOOLS)/gotestsum --format pkgname-and-test-fails --format-hide-empty-pkg

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: setup
setup: ## install Debian packages (when missing) and the pinned Go tools
	@bash scripts/setup.sh

.PHONY: tools
tools: ## install the pinned Go tools into .tools/
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	GOBIN=$(TOOLS) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	GOBIN=$(TOOLS) go install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	@# helm is a large build (about 2 CPU-minutes): skipped when the pinned version is in place.
	@$(TOOLS)/helm version --template '{{.Version}}' 2>/dev/null | grep -qx '$(HELM_VERSION)' || \
		{ echo "GOBIN=$(TOOLS) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)"; \
		  GOBIN=$(TOOLS) go install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); }

# The version every binary prints (--version): git describe of the checkout.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/harrier-security/harrier/proto/buildinfo.version=$(VERSION)

.PHONY: build
build: ## build harrier-sensor, harrier-router and harrierctl into bin/ (version stamped: VERSION)
	@mkdir -p $(BIN)
	cd sensor && go build -ldflags '$(LDFLAGS)' -o $(BIN)/harrier-sensor ./cmd/harrier-sensor
	cd router && go build -ldflags '$(LDFLAGS)' -o $(BIN)/harrier-router ./cmd/harrier-router
	cd router && go build -ldflags '$(LDFLAGS)' -o $(BIN)/harrierctl ./cmd/harrierctl

.PHONY: generate
generate: generate-proto generate-bpf ## regenerate all generated code

.PHONY: generate-proto
generate-proto: setup ## regenerate Go code from proto/harrier/v1/*.proto
	protoc -I proto --go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/harrier/v1/*.proto

.PHONY: generate-bpf
generate-bpf: ## compile bpf/*.bpf.c into the committed Go bindings and objects (clang, bpf2go); syscall names
	cd sensor && go generate ./internal/syscall/bpfcapture/ ./internal/syscall/sysevent/

.PHONY: vmlinux-h
vmlinux-h: ## regenerate bpf/vmlinux.h from this host's kernel BTF (bpftool); commit it deliberately
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h

.PHONY: check-generated
check-generated: generate ## fail when committed generated code is stale
	@if ! git diff --quiet -- proto bpf sensor; then \
		echo "generated code is stale; run 'make generate' and commit:"; git diff --stat -- proto bpf sensor; exit 1; fi

.PHONY: lint
lint: ## gofmt, go vet and staticcheck on every module
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && go vet ./... && staticcheck ./...) || exit 1; done
	@# bench/ (make bench-router) is a module of its own outside go.work.
	@out=$$(gofmt -l bench); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@cd bench && GOWORK=off go vet ./... && GOWORK=off staticcheck ./...

.PHONY: test
test: setup lint ## lint, then every module's tests (race detector on), then the packaging checks; prints a pass/fail/skip summary
	@mkdir -p .test
	$(GOTESTSUM) --jsonfile .test/modules.json -- $(RACE) $(TESTFLAGS) $(MODULES:%=./%/...)
	@$(MAKE) --no-print-directory test-deploy
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory test-packages; \
	  elif [ "$$HARRIER_REQUIRE_ALL" = 1 ]; then echo "test-packages needs root (HARRIER_REQUIRE_ALL=1)"; exit 1; \
	  else echo "SKIP test-packages: needs root (dpkg -i)"; fi

.PHONY: bench
bench: ## benchmarks (figures are recorded in docs/benchmarks.md)
	@for m in $(MODULES); do (cd $$m && go test -run '^$$' -bench . -benchmem ./...) || exit 1; done

.PHONY: bench-router
# BENCH_FLAGS: falcoload's flags (-duration 5s -conns 1,8,32 -rounds 1; -floor adds empty net/http and fasthttp handlers, -no-console the router without its console, -no-fsync drops ack: fsync).
BENCH_FLAGS ?=
bench-router: build ## Falco http_output load: harrier-router (ack written, fsync) vs the falcosidekick stand-in, one run
	cd bench && GOWORK=off go build -o $(BIN)/sidekick-standin ./sidekick
	cd bench && GOWORK=off go run ./falcoload -router $(BIN)/harrier-router -sidekick $(BIN)/sidekick-standin $(BENCH_FLAGS)

.PHONY: bench-overhead
bench-overhead: ## sensor overhead on this host (root): workloads without the sensor, with the bare tracepoints (the floor), with it, with it but no kernel prefilter, in rotated rounds (HARRIER_BENCH_ROUNDS, default 5; medians of wall and CPU, events captured/filtered/dropped, sensor CPU)
	cd sensor && go test -run '^$$' -bench OverheadWithRules -benchtime 1x ./internal/tools/ruletest/falcolive/

.PHONY: run
run: build ## start the router and the sensor on this host with embedded defaults
	@bash scripts/run.sh

.PHONY: run-sensor
run-sensor: ## start only the sensor with the quickstart defaults (scripts/run-sensor.sh; router at HARRIER_ROUTER_ADDR)
	@mkdir -p $(BIN)
	cd sensor && go build -ldflags '$(LDFLAGS)' -o $(BIN)/harrier-sensor ./cmd/harrier-sensor
	@bash scripts/run-sensor.sh

.PHONY: packages
# Package version (Debian/RPM syntax); DIST receives the packages.
PKG_VERSION ?= 0.1.0
DIST        ?= $(CURDIR)/dist
PKG_LDFLAGS := -s -w -X github.com/harrier-security/harrier/proto/buildinfo.version=$(PKG_VERSION)
packages: ## .deb and .rpm of harrier-sensor, harrier-router and harrierctl into dist/ (nfpm as a library; offline)
	@mkdir -p $(DIST)/bin
	cd sensor && CGO_ENABLED=0 go build -trimpath -ldflags '$(PKG_LDFLAGS)' -o $(DIST)/bin/harrier-sensor ./cmd/harrier-sensor
	cd router && CGO_ENABLED=0 go build -trimpath -ldflags '$(PKG_LDFLAGS)' -o $(DIST)/bin/harrier-router ./cmd/harrier-router
	cd router && CGO_ENABLED=0 go build -trimpath -ldflags '$(PKG_LDFLAGS)' -o $(DIST)/bin/harrierctl ./cmd/harrierctl
	cd deploy/packaging && GOWORK=off go run . -version $(PKG_VERSION) -bin $(DIST)/bin -out $(DIST) -root $(CURDIR)

.PHONY: test-packages
test-packages: ## install, upgrade and purge the .deb packages on this host (root; deploy/packaging)
	cd deploy/packaging && GOWORK=off go vet ./... && GOWORK=off go test -count=1 -timeout 30m $(TESTFLAGS) ./...

.PHONY: test-deploy
# -count=1: helm and go build run as subprocesses, so go test's result cache
# would not notice edits to the chart or the daemons.
test-deploy: ## packaging checks: Helm chart, docker-compose lab, Kibana objects (offline; nested module deploy/test)
	@cd deploy/test && out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd deploy/test && GOWORK=off go vet ./... && GOWORK=off staticcheck ./...
	@mkdir -p .test
	cd deploy/test && GOWORK=off HELM=$(TOOLS)/helm HARRIER_GO_BUILD_FLAGS="$(RACE)" \
		$(GOTESTSUM) --jsonfile $(CURDIR)/.test/deploy.json -- -count=1 $(TESTFLAGS) ./...

.PHONY: helm-lint
helm-lint: ## helm lint the chart with its default values and with every option on
	$(TOOLS)/helm lint --strict charts/harrier
	$(TOOLS)/helm lint --strict charts/harrier -f charts/harrier/ci/all-options-values.yaml

.PHONY: chart-rules
chart-rules: ## copy rules/*.yaml into the chart (Helm reads only files inside the chart)
	rm -f charts/harrier/rules/*.yaml
	cp rules/*.yaml charts/harrier/rules/

.PHONY: chart-readme
chart-readme: ## regenerate charts/harrier/README.md (values table) and values.schema.json from values.yaml
	cd deploy/test && GOWORK=off go test -run '^(TestChartReadme|TestChartSchema)$$' -update .

# Container images. IMAGE_TAG defaults to the checkout's short commit.
IMAGE_REPO ?= ghcr.io/harrier-security
IMAGE_TAG  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)

.PHONY: images
images: ## build the harrier-sensor and harrier-router images (needs a Docker engine)
	@if ! docker info >/dev/null 2>&1; then \
		echo "images: no Docker engine reachable (docker info failed); skipping the image build"; exit 0; fi; \
	set -e; for c in sensor router; do \
		echo "docker build -f deploy/docker/$$c.Dockerfile -t $(IMAGE_REPO)/harrier-$$c:$(IMAGE_TAG) ."; \
		DOCKER_BUILDKIT=1 docker build --build-arg VERSION=$(VERSION) -f deploy/docker/$$c.Dockerfile -t $(IMAGE_REPO)/harrier-$$c:$(IMAGE_TAG) .; \
	done

.PHONY: clean
clean:
	rm -rf $(BIN)

.PHONY: rules-doc
rules-doc: ## regenerate docs/rules.md from Harrier's rules files
	cd sensor && go run ./cmd/harrier-sensor rules doc -root .. -r ../rules/k8s_audit.yaml -r ../rules/syscall.yaml > ../docs/rules.md.tmp
	mv docs/rules.md.tmp docs/rules.md

.PHONY: rules-test
rules-test: ## run Harrier's rule tests (rules/tests) with the rules test command
	cd sensor && go run ./cmd/harrier-sensor rules test ../rules/tests
