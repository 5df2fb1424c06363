# socketd — build, run and test.
#   make run    socketd on the embedded default (no Drupal, no Redis needed)
#   make test   every test: go vet, gofmt, unit and race tests, fuzz smoke, end-to-end with real npm clients
#   make bench  Go micro-benchmarks (allocations reported)
SHELL := /bin/bash
GO ?= go
NPM ?= npm
FUZZTIME ?= 5s
export GOFLAGS ?= -buildvcs=false

.PHONY: all build run test vet fmt-check unit race fuzz e2e-deps e2e bench clean

all: build

build:
	$(GO) build ./...

run:
	$(GO) run ./cmd/socketd

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 ./protocol/... ./server/... ./cmd/...

race:
	$(GO) test -race -count=1 ./protocol/... ./server/... ./cmd/...

# Each fuzz target runs briefly; go test -fuzz takes one target per invocation.
fuzz:
	@set -e; for pkg in ./protocol/engineio ./protocol/socketio; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

e2e-deps:
	@command -v node >/dev/null || { echo "node is required for the end-to-end tests"; exit 1; }
	cd test/e2e && $(NPM) ci --no-audit --no-fund --loglevel=error

e2e: e2e-deps
	$(GO) test -count=1 -timeout 15m ./test/e2e/...

test: vet fmt-check race fuzz e2e

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./protocol/... ./server/...

clean:
	rm -rf bin test/e2e/node_modules
