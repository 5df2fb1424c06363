# socketd — build, run and test.
#   make run    socketd on the embedded default (dev mode: no Drupal, no Redis needed)
#   make test   every test: go vet, gofmt, go mod tidy check, race-enabled unit tests, fuzz smoke, end-to-end with real npm clients
#   make bench     socketd, the Node socket.io peer and the floor through the same scenarios (bench/run.sh);
#                  DRUPAL_NODE_DIR=<drupal-node.js checkout> adds drupal-node.js itself
#   make bench-go  Go micro-benchmarks (allocations reported)
SHELL := /bin/bash
GO ?= go
NPM ?= npm
# An execution count, not a duration: go1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a duration-based -fuzztime expires under load
# (golang/go#75804, fixed in go1.27). A count has no deadline to race.
FUZZTIME ?= 200000x
export GOFLAGS ?= -buildvcs=false

# Packages with unit tests (test/e2e has its own target).
PKGS := ./protocol/... ./server/... ./drupal/... ./client_js/... ./cmd/... ./bench/... ./internal/...

.PHONY: all build run test vet fmt-check unit race fuzz redis-deps e2e-deps e2e bench bench-go clean

all: build

include client_js/client_js.mk

build: client-js
	$(GO) build ./...

run: client-js
	$(GO) run ./cmd/socketd -dev

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit: client-js redis-deps
	$(GO) test -count=1 $(PKGS)

race: client-js redis-deps
	$(GO) test -race -count=1 $(PKGS)

# go.mod and go.sum are exactly what `go mod tidy` writes. -diff writes nothing and
# exits non-zero on a difference; modules missing from the cache come through the
# module proxy `go build` uses (tidy also reads the test imports of dependencies,
# two small modules more than a build).
.PHONY: mod-check
mod-check:
	@$(GO) mod tidy -diff || { echo "mod-check: go.mod/go.sum are not tidy (diff above): run go mod tidy" >&2; exit 1; }

# Each fuzz target runs briefly; go test -fuzz takes one target per invocation.
fuzz:
	@set -e; for pkg in ./protocol/engineio ./protocol/socketio ./drupal ./server/cluster; do \
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

e2e: e2e-deps redis-deps client-js
	$(GO) test -count=1 -timeout 20m ./test/e2e/...

test: vet fmt-check mod-check race fuzz e2e

# With DRUPAL_NODE_DIR (a drupal-node.js checkout, npm dependencies installed;
# docs/PERFORMANCE.md) the app Drupal sites run today is measured as well.
comma := ,
BENCH_ARGS ?= -servers floor,node,socketd$(if $(DRUPAL_NODE_DIR),$(comma)drupal-node)
bench: client-js
	bench/run.sh $(BENCH_ARGS)

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean: client-js-clean
	rm -rf bin test/e2e/node_modules bench/node-peer/node_modules
