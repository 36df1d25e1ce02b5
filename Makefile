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

.PHONY: all build test demo demo-ha demo-ha-packages demo-stop bench bench-report fuzz stress clean vet lint

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

demo-stop:
	@if [ -x demo/zeo/bin/zeoctl ]; then demo/zeo/bin/zeoctl stop; else echo "no demo instance"; fi
	@./scripts/demo-ha.sh stop

# High availability on PostgreSQL (docs/postgresql.md): etcd, two Patroni
# nodes and two runzeo front ends; kills the primary and commits after the
# failover. Its Debian packages are installed first when missing.
demo-ha: build demo-ha-packages
	./scripts/demo-ha.sh

demo-ha-packages:
	@if ! command -v patroni >/dev/null || ! command -v etcd >/dev/null || ! command -v psql >/dev/null || \
	    ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  sudo=""; if [ "$$(id -u)" != 0 ]; then sudo=sudo; fi; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y postgresql patroni etcd-server; \
	fi

# Go benchmarks, then zeobench's standard set against a runzeo process
# (docs/performance.md): every figure beside its target, on stdout. Changes no file;
# `make bench-report` writes the figures into docs/performance.md.
# BenchmarkRespawnAfterKill9 waits 1.1 s untimed before each kill (the
# program must have lived past backoff-limit), so b.N sized from the timed
# part would take minutes: it runs a fixed five respawns instead.
bench: build
	$(GO) test -run '^$$' -bench . -skip 'RespawnAfterKill9' -benchmem -benchtime $(BENCHTIME) ./...
	$(GO) test -run '^$$' -bench 'RespawnAfterKill9' -benchtime 5x ./pkg/supervisor
	$(BIN)/zeobench -suite -big -runzeo $(BIN)/runzeo -runs 3 -d 2s

bench-report: build
	$(BIN)/zeobench -suite -big -runzeo $(BIN)/runzeo -runs 3 -d 3s -report docs/performance.md

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

clean:
	rm -rf $(BIN) demo stress-figures.txt
	$(GO) clean -testcache
