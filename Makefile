# zdkit build, test and demo targets.  Only Go and make are needed.
GO        ?= go
BIN       := bin
CMDS      := $(notdir $(wildcard cmd/*))
# How long each fuzz target runs under `make fuzz`.
FUZZTIME  ?= 30s
# staticcheck, pinned, run through `go run` so a fresh clone needs nothing
# else (2026.2.2 is module version v0.8.2).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME ?= 1s

.PHONY: all build test demo demo-pg demo-ha demo-ha-packages demo-stop bench bench-report fuzz stress clean vet lint interop-suites interop-suites-zeo interop-suites-zdaemon

all: build

# Static binaries: no libc in the process, which keeps zdrun's resident size
# near 4.5 MiB instead of 6 (docs/zdrun.md), and user lookups read /etc/passwd
# directly, as zdaemon's pwd module does.
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet ./...

# Every finding is fixed, or marked with a //lint:ignore comment that says
# why (an error text that must match Python's, for instance).
lint:
	$(GO) run $(STATICCHECK) ./...

test: vet lint
	$(GO) test -race -count=1 ./...

demo: build
	./scripts/demo.sh

# Two runzeo front ends on one local PostgreSQL (docs/postgresql.md).
demo-pg: build
	./scripts/ensure-packages.sh postgresql
	./scripts/demo-pg.sh

demo-stop:
	@if [ -x demo/zeo/bin/zeoctl ]; then demo/zeo/bin/zeoctl stop; else echo "no demo instance"; fi
	@./scripts/demo-pg-stop.sh
	@./scripts/demo-ha.sh stop

# High availability on PostgreSQL (docs/postgresql.md): etcd, two Patroni
# nodes and two runzeo front ends; kills the primary and commits after the
# failover. Its Debian packages are installed first when missing.
demo-ha: build demo-ha-packages
	./scripts/demo-ha.sh

demo-ha-packages:
	./scripts/ensure-packages.sh postgresql patroni etcd-server

# Go benchmarks, then zeobench's standard set against a runzeo process
# (docs/performance.md): every figure beside its target, on stdout. Changes no file;
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

# The long fault-injection runs (docs/reliability.md); their short versions run in `make test`.
# Each stress test appends a line of figures (rounds, transactions
# acknowledged and found, faults injected) to stress-figures.txt.
stress:
	rm -f stress-figures.txt
	ZDKIT_STRESS=1 ZDKIT_STRESS_REPORT=$(CURDIR)/stress-figures.txt $(GO) test -race -count=1 -timeout 30m ./...
	@cat stress-figures.txt

# The maintainers' own test suites, unchanged, against zdkit's binaries
# (docs/interop.md, "The maintainers' suites"). Opt-in: each suite says
# "skipped" and passes when ZDKIT_PYREF or its source tree is not set.
# `make interop-suites` runs both:
#   ZDKIT_PYREF=... ZDKIT_ZEO_SRC=... make interop-suites
interop-suites: interop-suites-zeo interop-suites-zdaemon

# ZEO 6.0.0's src/ZEO/tests with its forker starting our runzeo
# (ZDKIT_SUITE_SERVER=both also runs it against Python's runzeo first).
interop-suites-zeo:
	./interop/suites/run-zeo-suite.sh

clean:
	rm -rf $(BIN) demo demo-pg stress-figures.txt
	$(GO) clean -testcache

# zdaemon 5.2.1's own process-level tests (26), unchanged, against the
# Python originals and then against bin/zdctl and bin/zdrun (docs/interop.md).
# Opt-in: skips unless ZDKIT_PYREF names the Python reference.
interop-suites-zdaemon: build
	./interop/suites/zdaemon/run.sh $(BIN)
