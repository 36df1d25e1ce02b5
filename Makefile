# zdkit build, test and demo targets.  Only Go and make are needed.
GO        ?= go
BIN       := bin
CMDS      := $(notdir $(wildcard cmd/*))
# How long each fuzz target runs under `make fuzz`.
FUZZTIME  ?= 30s
BENCHTIME ?= 1s

.PHONY: all build test demo demo-stop bench bench-report fuzz stress clean vet

all: build

# Static binaries: no libc in the process, which keeps zdrun's resident size
# near 4.5 MiB instead of 6 (docs/zdrun.md), and user lookups read /etc/passwd
# directly, as zdaemon's pwd module does.
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 ./...

demo: build
	./scripts/demo.sh

demo-stop:
	@if [ -x demo/zeo/bin/zeoctl ]; then demo/zeo/bin/zeoctl stop; else echo "no demo instance"; fi

# Go benchmarks, then zeobench's standard set against a runzeo process
# (issue 7): every figure beside its target, on stdout. Changes no file;
# `make bench-report` writes the figures into docs/performance.md.
# The Python-client benchmark (real ClientStorage processes against
# Python's runzeo and ours) runs when ZDKIT_PYREF names a PYTHONPATH with
# ZEO and ZODB (ZDKIT_PYTHON the interpreter), and says "skipped" otherwise.
# BenchmarkRespawnAfterKill9 waits 1.1 s untimed before each kill (the
# program must have lived past backoff-limit), so b.N sized from the timed
# part would take minutes: it runs a fixed five respawns instead.
bench: build
	$(GO) test -run '^$$' -bench . -skip 'RespawnAfterKill9' -benchmem -benchtime $(BENCHTIME) ./...
	$(GO) test -run '^$$' -bench 'RespawnAfterKill9' -benchtime 5x ./pkg/supervisor
	$(BIN)/zeobench -suite -big -runzeo $(BIN)/runzeo -runs 3 -d 2s
	$(BIN)/zeobench -python -runzeo $(BIN)/runzeo -c 1,4 -runs 3 -d 3s

bench-report: build
	$(BIN)/zeobench -suite -big -runzeo $(BIN)/runzeo -runs 3 -d 3s -report docs/performance.md
	$(BIN)/zeobench -python -runzeo $(BIN)/runzeo -c 1,4 -runs 3 -d 3s -report docs/performance.md

# Every Fuzz* function in every package, each for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# The long fault-injection runs (issue 8); their short versions run in `make test`.
# Each stress test appends a line of figures (rounds, transactions
# acknowledged and found, faults injected) to stress-figures.txt.
stress:
	rm -f stress-figures.txt
	ZDKIT_STRESS=1 ZDKIT_STRESS_REPORT=$(CURDIR)/stress-figures.txt $(GO) test -race -count=1 -timeout 30m ./...
	@cat stress-figures.txt

clean:
	rm -rf $(BIN) demo stress-figures.txt
	$(GO) clean -testcache
