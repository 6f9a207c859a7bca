# restaurants: a caching relay for the lunch-menu API.
# `make help` lists the targets.

SHELL       := /usr/bin/env bash
GO          ?= go
BIN         ?= bin
# The version's one source is charts/Chart.yaml: its appVersion (equal to the
# chart's version) is what --version prints, the image's tag and the chart's
# default image.tag (a test fails when they disagree). A release is its tag, vVERSION.
VERSION     ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/Chart.yaml)
LDFLAGS     := -s -w -X main.version=$(VERSION)
COMMANDS    := restaurants menu-api restaurant-menu loadtest
FUZZTIME    ?= 1m

.DEFAULT_GOAL := help

.PHONY: help version
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

version: ## print the version (charts/Chart.yaml appVersion)
	@echo $(VERSION)

# --- build and run -----------------------------------------------------------

.PHONY: build
build: ## build the binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(COMMANDS))

.PHONY: run
run: build ## run the relay on :8000 with the stand-in upstream (UPSTREAM=url for a real one); Ctrl-C stops
	@BIN=$(BIN) UPSTREAM=$(UPSTREAM) hack/run.sh

# --- the stand-in upstream and the command line --------------------------------
# Every stand-in flag also reads MENU_API_<FLAG>, so its knobs pass through
# `make run`, e.g. a stand-in as slow as the real API:
#   MENU_API_LATENCY=500ms MENU_API_JITTER=300ms make run

MODE ?= none
NAME ?=
API  ?= http://localhost:8000/

.PHONY: menu-api menu fault

menu-api: build ## run only the stand-in upstream on 127.0.0.1:8080 (knobs: MENU_API_* env vars); Ctrl-C stops
	$(BIN)/menu-api --listen 127.0.0.1:8080

menu: build ## today's menu of NAME, or the list, through the relay: make menu NAME="Cafe Erik Jorpes" [API=url]
	$(BIN)/restaurant-menu --api '$(API)' $(NAME)

fault: ## switch the running stand-in's failure mode: make fault MODE=none|5xx|slow|429|garbled|oversized
	@curl -fsS -X PUT 'http://127.0.0.1:8080/-/fault?mode=$(MODE)'

.PHONY: prometheus
prometheus: ## Prometheus (Debian's) on 127.0.0.1:9091 scraping `make run`'s relay, with the alerting rules; Ctrl-C stops
	hack/prometheus.sh

# --- image, chart, manifests ---------------------------------------------------
# Helm is pinned as a Go tool in go.mod (helm.sh/helm/v4/cmd/helm): `go tool helm`
# builds it from the Go module proxy on first use.
# The published name and tag, so that the chart's defaults run the local
# build on kind (kind load) and the published image elsewhere.
IMAGE ?= ghcr.io/scilifelab/restaurants:$(VERSION)
CURL_IMAGE ?= restaurants-curl:dev
VALKEY_IMAGE ?= restaurants-valkey:dev
HELM ?= go tool helm

.PHONY: image image-curl image-valkey chart-lint chart-test manifests

image: ## build the container image $(IMAGE) (registry build when base images are at hand, else host binaries FROM scratch)
	IMAGE=$(IMAGE) VERSION=$(VERSION) hack/image.sh

image-curl: ## build $(CURL_IMAGE): curl + sh for `helm test` where curlimages/curl cannot be pulled
	IMAGE=$(CURL_IMAGE) hack/curl-image.sh

image-valkey: ## build $(VALKEY_IMAGE): Debian's redis-server for valkey.enabled where valkey/valkey cannot be pulled
	IMAGE=$(VALKEY_IMAGE) hack/valkey-image.sh

chart-lint: ## helm lint --strict with the defaults and with every optional part on
	$(HELM) lint --strict ./charts
	$(HELM) lint --strict ./charts --set menuApi.enabled=true --set serviceMonitor.enabled=true --set autoscaling.targetMemoryUtilizationPercentage=80 --set ingress.enabled=true --set ingress.host=lunch.example.org --set ingress.tlsSecret=lunch-tls \
	  --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true --set networkPolicy.enabled=true
	$(HELM) lint --strict ./charts --set valkey.enabled=true --set sharedCache.timeout=80ms --set networkPolicy.enabled=true

chart-test: ## render the chart with the Helm SDK and check it (no cluster, no Docker)
	go test -race -count=1 ./charts/

manifests: ## regenerate k8s/restaurants.yaml and k8s/prometheus-rules.yaml from the chart (a test fails when they are stale)
	hack/manifests.sh

# --- release: what a tag publishes (.github/workflows/release.yml runs these) ---
# hack/release builds it from charts/Chart.yaml's version into $(RELEASE_OUT);
# pushes use the Docker credentials (docker login).
RELEASE_OUT    ?= $(BIN)/release
# REGISTRY=ghcr.io/scilifelab pushes the image index to $(REGISTRY)/restaurants:$(VERSION)
REGISTRY       ?=
# CHART_REGISTRY=oci://ghcr.io/scilifelab/charts pushes the chart there
CHART_REGISTRY ?=

.PHONY: release release-image release-chart release-sbom
release: release-image release-chart release-sbom ## all of the release's files in $(RELEASE_OUT)

release-image: ## linux/amd64 + linux/arm64 images, one OCI index, as an OCI layout in $(RELEASE_OUT)/image; REGISTRY=... pushes it
	$(GO) run ./hack/release image -out $(RELEASE_OUT) $(if $(REGISTRY),-push $(REGISTRY)/restaurants:$(VERSION))

release-chart: ## helm package the chart into $(RELEASE_OUT); CHART_REGISTRY=oci://... pushes it
	$(GO) run ./hack/release chart -out $(RELEASE_OUT) $(if $(CHART_REGISTRY),-push $(CHART_REGISTRY))

release-sbom: ## CycloneDX SBOMs of the image's binary and of the module graph into $(RELEASE_OUT)
	$(GO) run ./hack/release sbom -out $(RELEASE_OUT)

# --- kind: a local cluster, with or without a registry -------------------------
# hack/docker-engine.sh installs Debian's docker.io when no engine answers and
# starts dockerd (idempotent). The node image is kindest/node when it can be
# pulled and run here, otherwise the one hack/kind-node/build.sh builds (a
# Debian rootfs + Kubernetes from Go modules, cached by a hash of its inputs).
KIND_CLUSTER ?= restaurants
# worker nodes beside the control plane; 0: one node that runs everything
KIND_WORKERS ?= 2
KEEP_CLUSTER ?=
E2E_TIMEOUT  ?= 50m

.PHONY: docker-engine kind-node-image kind-up kind-down kind-test kind-e2e
docker-engine: ## make sure a Docker engine answers (installs and starts Debian's docker.io)
	hack/docker-engine.sh

kind-node-image: docker-engine ## build the kind node image locally (no registry; cached)
	hack/kind-node/build.sh

kind-up: docker-engine ## create (or reuse) the kind cluster $(KIND_CLUSTER): a control plane, $(KIND_WORKERS) workers, metrics-server
	$(GO) run ./hack/kind up --name $(KIND_CLUSTER) --config k8s/kind.yaml --workers $(KIND_WORKERS)

kind-down: ## delete the kind cluster $(KIND_CLUSTER)
	$(GO) run ./hack/kind down --name $(KIND_CLUSTER)

kind-test: kind-up ## the cluster's own e2e: nodes, pod network across nodes, DNS on each worker, metrics, a loaded image via Service and port-forward
	RESTAURANTS_KIND_NAME=$(KIND_CLUSTER) $(GO) test -tags e2e -count=1 -v -run TestKindCluster ./hack/e2e/

# hack/kind-e2e.sh: cluster up (reused when healthy) -> go test -tags e2e
# (TestKindCluster, TestChartOnKind) -> cluster down unless KEEP_CLUSTER=1.
# Knobs (environment), the most each load may last (a stage ends its load once
# its event is over): RESTAURANTS_E2E_HPA_LOAD (120s; it stops
# RESTAURANTS_E2E_HPA_TAIL, 30s, after the first scale-out),
# RESTAURANTS_E2E_UPGRADE_LOAD (150s), RESTAURANTS_E2E_POD_LOSS_LOAD (60s),
# RESTAURANTS_E2E_DRAIN_LOAD (150s), RESTAURANTS_E2E_NODE_LOSS_LOAD (180s),
# RESTAURANTS_E2E_TIER_LOSS_LOAD (90s), RESTAURANTS_E2E_ROTATION_LOAD (5m); fixed: RESTAURANTS_E2E_FORWARD_LOAD (20s),
# RESTAURANTS_E2E_CAPACITY_LOAD (45s); RESTAURANTS_E2E_RATE (3000 req/s of the HPA and
# upgrade runs). RESTAURANTS_E2E_NAMESPACE (restaurants-e2e),
# RESTAURANTS_E2E_IMAGE, _CURL_IMAGE, _VALKEY_IMAGE (the chart's default image, restaurants-curl:dev, ...),
# RESTAURANTS_E2E_BUILD=0 (use the images as they are), RESTAURANTS_E2E_SUMMARY
# (bin/kind-e2e/summary.md) and RESTAURANTS_E2E_REPORT (bin/kind-e2e/report.html).
kind-e2e: ## the chart on kind: helm install+test, load, HPA and upgrade without/with the shared tier, capacity, pod loss, drain, node loss, NetworkPolicy, Valkey loss; Markdown summary + HTML report in bin/kind-e2e/
	KIND_CLUSTER=$(KIND_CLUSTER) KIND_WORKERS=$(KIND_WORKERS) KEEP_CLUSTER=$(KEEP_CLUSTER) E2E_TIMEOUT=$(E2E_TIMEOUT) GO=$(GO) hack/kind-e2e.sh

# --- benchmark ----------------------------------------------------------------
# BENCH_FLAGS passes flags to the benchmark driver, e.g.
#   make bench BENCH_FLAGS="-d 30s -rounds 3"        longer runs
#   make bench BENCH_FLAGS="-scenarios hot,ttl1"     some scenarios only
#   make bench BENCH_FLAGS="-scenarios flood,hang,cluster"   the upstream's protection only (about 4 min)
#   make bench BENCH_FLAGS="-scenarios sweep"        only the sweep over connections and keys
#   make bench BENCH_FLAGS="-scenarios lunch"        sparse lunch traffic: users who waited, what the upstream computed (about 3.5 min)
#   make bench BENCH_FLAGS="-scenarios lunch -lunch-rate 0.5 -lunch-d 4m -lunch-seed 2"   another lunch
#   make bench BENCH_FLAGS="-sweep-c 20,200 -sweep-keys 13,1000 -sweep-d 10s"   another sweep
#   make bench BENCH_FLAGS="-profile -keep"          save the relay's CPU/alloc profiles
# The tables go to stdout and, with the results as JSON and the HTML report
# (charts, no script, opens offline), into $(BENCH_OUT).
BENCH_FLAGS ?=
BENCH_OUT   ?= $(BIN)/bench
SECTION     ?= ttl1

.PHONY: bench bench-screenshot
bench: ## relay vs nginx proxy_cache vs bare net/http on 127.0.0.1, ratios from one run; tables, bench.json and the HTML report in bin/bench (about 16 min)
	@hack/test-deps.sh nginx:nginx-light redis-server:redis-server
	$(GO) run ./hack/bench -out $(BENCH_OUT) $(BENCH_FLAGS)

bench-screenshot: ## PNG of one section's charts of the last bench report (SECTION=ttl1) in headless Chromium -> hack/bench/report.png
	$(GO) test -count=1 -run '^TestScreenshot$$' ./internal/report/reporttest/ -args \
	  -page $(abspath $(BENCH_OUT)/bench.html) -select '#$(SECTION) .charts' -out $(CURDIR)/hack/bench/report.png

# --- checks ------------------------------------------------------------------

.PHONY: test test-short test-deps
test: test-deps fmt-check vet chart-lint lint-workflows ## gofmt, go vet, helm lint --strict, actionlint, go test -race (hermetic: no internet, no Docker)
	$(GO) test -race -count=1 ./...

test-short: ## the fast tier: go test -short, only Go needed (tests of real programs and long runs skip)
	# without cgo, as on a machine with Go and no C compiler: the test
	# binaries link in Go's own linker, about a quarter faster here
	CGO_ENABLED=0 $(GO) test -short ./...

test-deps: ## install the Debian packages the tests run for real (redis-server, prometheus, chromium, nginx-light) when missing
	@hack/test-deps.sh

.PHONY: lint-workflows
lint-workflows: ## actionlint over .github/workflows, with shellcheck on their run: scripts
	@hack/test-deps.sh shellcheck:shellcheck
	$(GO) tool actionlint -shellcheck shellcheck

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

.PHONY: fmt-check
fmt-check: ## fail when a Go file is not gofmt'ed
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: fuzz
fuzz: ## fuzz the path safety of upstream URLs and the reading of signed shared-cache entries, each for FUZZTIME (default 1m)
	$(GO) test -run '^$$' -fuzz FuzzParseTarget -fuzztime $(FUZZTIME) ./internal/upstream/
	$(GO) test -run '^$$' -fuzz FuzzDecodeEntry -fuzztime $(FUZZTIME) ./internal/sharedcache/

.PHONY: bench-go
bench-go: ## go test benchmarks of the hit path, with allocations
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./internal/relay/

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BIN)
