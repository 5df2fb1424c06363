# socketd — build, run and test.
#   make build  bin/socketd (version stamped from git describe), after compiling every package
#   make run    socketd on the embedded default (dev mode: no Drupal, no Redis needed)
#   make test   every test: go vet, gofmt, go mod tidy check, race-enabled unit tests, fuzz smoke, end-to-end with real npm clients
#   make bench     socketd, the Node socket.io peer and the floor through the same scenarios (bench/run.sh),
#                  each also over https/wss with an RSA-2048 and an ECDSA P-256 certificate,
#                  then 3-node clusters of each on one Redis with 50,000 clients;
#                  DRUPAL_NODE_DIR=<drupal-node.js checkout> adds drupal-node.js itself
#   make bench-go  Go micro-benchmarks (allocations reported)
#   make soak      socketd for 30 minutes at 5,000 sockets with churn, publishes and slow consumers,
#                  sampled into docs/soak.csv and docs/soak.svg (docs/PERFORMANCE.md, "Soak")
SHELL := /bin/bash
GO ?= go
NPM ?= npm
# An execution count, not a duration: go1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a duration-based -fuzztime expires under load
# (golang/go#75804, fixed in go1.27). A count has no deadline to race.
FUZZTIME ?= 200000x
export GOFLAGS ?= -buildvcs=false
# Where make build puts socketd, and the version it is stamped with (socketd
# -version): git describe in a checkout, "dev" without git (a tarball).
BINDIR ?= bin
VERSION := $(shell test -e .git && git describe --always --dirty 2>/dev/null || echo dev)

# Packages with unit tests (test/e2e has its own target).
PKGS := ./protocol/... ./server/... ./drupal/... ./client_js/... ./cmd/... ./bench/... ./internal/...

.PHONY: all build socketd-bin run test vet fmt-check unit race fuzz redis-deps e2e-deps e2e bench bench-go soak soak-short clean

all: build

include client_js/client_js.mk

build: socketd-bin
	$(GO) build ./...

socketd-bin: client-js
	$(GO) build -ldflags '-X main.version=$(VERSION)' -o $(BINDIR)/socketd ./cmd/socketd

# The binary itself runs in the recipe's place: on Ctrl-C it shuts down and
# exits 0, so make stops without an error (go run exits 1 when interrupted).
# RUN_ARGS adds flags, e.g. make run RUN_ARGS='-port 9000'.
run: socketd-bin
	$(BINDIR)/socketd -dev $(RUN_ARGS)

vet:
	@echo "== go vet"
	$(GO) vet ./...

fmt-check:
	@echo "== gofmt"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit: client-js redis-deps
	$(GO) test -count=1 $(PKGS)

race: client-js redis-deps
	@echo "== unit tests under the race detector (compiling first; then a line per package as it ends)"
	$(GO) test -race -count=1 $(PKGS)

# go.mod and go.sum are exactly what `go mod tidy` writes. -diff writes nothing and
# exits non-zero on a difference; modules missing from the cache come through the
# module proxy `go build` uses (tidy also reads the test imports of dependencies,
# two small modules more than a build).
.PHONY: mod-check
mod-check:
	@$(GO) mod tidy -diff || { echo "mod-check: go.mod/go.sum are not tidy (diff above): run go mod tidy" >&2; exit 1; }

# Each fuzz target runs briefly; go test -fuzz takes one target per invocation.
FUZZ_PKGS := ./protocol/engineio ./protocol/socketio ./internal/clientip ./drupal ./drupal/nodejsconfig ./drupal/store/redisstore ./server/adapter ./server/adapter/redisadapter/wire ./server/adminui ./server/cluster
fuzz:
	@echo "== fuzz: every target of $(FUZZ_PKGS), $(FUZZTIME) inputs each"
	@set -e; for pkg in $(FUZZ_PKGS); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

# Tests that need Redis start their own redis-server (internal/redistest).
redis-deps:
	@if ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; \
	  elif [ "$$CI" = true ]; then \
	    echo "redis-deps: redis-server is missing and only root can install it (apt-get install -y redis-server)" >&2; exit 1; \
	  else \
	    echo "redis-deps: redis-server is missing; the tests that need it will be skipped (as root: apt-get install -y redis-server)" >&2; \
	  fi; \
	fi

# Debian's chromium drives the browser test (no browser is ever downloaded by npm).
e2e-deps:
	@echo "== end-to-end dependencies (npm ci in test/e2e; Debian's chromium)"
	@command -v node >/dev/null || { echo "node is required for the end-to-end tests"; exit 1; }
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  elif [ "$$CI" = true ]; then \
	    echo "e2e-deps: chromium is missing and only root can install it (apt-get install -y chromium)" >&2; exit 1; \
	  else \
	    echo "e2e-deps: chromium is missing; the browser test will be skipped (as root: apt-get install -y chromium)" >&2; \
	  fi; \
	fi
	cd test/e2e && $(NPM) ci --no-audit --no-fund --loglevel=error

# test/e2e is one package that runs for minutes: its tests are listed as they
# end (internal/testprogress reads go test -json), with the output of any that
# fails.
e2e: e2e-deps redis-deps client-js
	@echo "== end-to-end tests: real npm clients, Chromium, socketd and make (each test listed as it ends)"
	set -o pipefail; $(GO) test -json -count=1 -timeout 20m ./test/e2e/... 2>&1 | $(GO) run ./internal/testprogress

test: vet fmt-check mod-check race fuzz soak-short e2e

# The soak (bench/socketbench/soak.go, bench/runner/soak.go): socketd started on
# free loopback ports with its profiler on, held at SOAK_N sockets that come and
# go (WebSocket and long-polling, EIO=3 and 4) under Drupal publishes, with slow
# consumers it must cut off; its RSS, live heap, goroutines and open files are
# sampled every 10 s (5 s in the short run). The run fails when goroutines, heap or
# open files grew past generous bounds from a window after the warm-up to the last
# one, when a socket missed a broadcast, or when a slow consumer was not cut off by
# the byte bound.
# make soak is the 30-minute run whose CSV and chart are committed in docs/;
# make soak-short, the 2-minute version make test runs (output in bench/results/).
SOAK_BINS = $(GO) build -o $(BINDIR)/ ./bench/socketbench && $(GO) build -o $(BINDIR)/benchrun ./bench/runner
SOAK_RUN = $(BINDIR)/benchrun -soak-socketd $(BINDIR)/socketd -socketbench $(BINDIR)/socketbench
SOAK_ARGS ?=
soak: socketd-bin
	$(SOAK_BINS)
	$(SOAK_RUN) -soak 30m -soak-n 5000 -out bench/results/soak -soak-csv docs/soak.csv -soak-svg docs/soak.svg \
	  -soak-args "-soak-sample 10s -soak-warmup 5m -soak-window 1m -soak-settle 1m30s -soak-lifetime 5m -soak-broadcast-every 5s -soak-slow 4 $(SOAK_ARGS)"

soak-short: socketd-bin
	@echo "== soak, 2 minutes: 1,500 sockets with churn, publishes and slow consumers; bounded growth of goroutines, heap and open files"
	$(SOAK_BINS)
	$(SOAK_RUN) -soak 2m -soak-n 1500 -out bench/results/soak-short -soak-args "$(SOAK_ARGS)"

# With DRUPAL_NODE_DIR (a drupal-node.js checkout, npm dependencies installed;
# docs/PERFORMANCE.md) the app Drupal sites run today is measured as well.
comma := ,
BENCH_ARGS ?= -servers floor,node,socketd$(if $(DRUPAL_NODE_DIR),$(comma)drupal-node) -tls rsa,ecdsa -cluster node,socketd
bench: client-js
	bench/run.sh $(BENCH_ARGS)

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean: client-js-clean
	rm -rf $(BINDIR) test/e2e/node_modules bench/node-peer/node_modules
