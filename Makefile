# restaurants: a caching relay for the lunch-menu API.
# `make help` lists the targets.

SHELL       := /usr/bin/env bash
GO          ?= go
BIN         ?= bin
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
COMMANDS    := restaurants menu-api restaurant-menu loadtest
FUZZTIME    ?= 1m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- build and run -----------------------------------------------------------

.PHONY: build
build: ## build the binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(COMMANDS))

.PHONY: run
run: build ## run the relay on :8000 with the stand-in upstream (UPSTREAM=url for a real one); Ctrl-C stops
	@BIN=$(BIN) UPSTREAM=$(UPSTREAM) hack/run.sh

# --- checks ------------------------------------------------------------------

.PHONY: test
test: fmt-check vet ## gofmt check, go vet, go test -race (hermetic: no internet, no Docker)
	$(GO) test -race -count=1 ./...

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

.PHONY: fmt-check
fmt-check: ## fail when a Go file is not gofmt'ed
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: fuzz
fuzz: ## fuzz the path safety of upstream URLs for FUZZTIME (default 1m)
	$(GO) test -run '^$$' -fuzz FuzzParseTarget -fuzztime $(FUZZTIME) ./internal/upstream/

.PHONY: bench-go
bench-go: ## go test benchmarks of the hit path, with allocations
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./internal/relay/

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BIN)
