# zdkit build, test and demo targets.  Only Go and make are needed.
GO        ?= go
BIN       := bin
CMDS      := $(notdir $(wildcard cmd/*))
# How long each fuzz target runs under `make fuzz`.
FUZZTIME  ?= 30s
BENCHTIME ?= 1s

.PHONY: all build test demo bench fuzz clean vet

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 ./...

demo: build
	./scripts/demo.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# Every Fuzz* function in every package, each for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf $(BIN) demo
	$(GO) clean -testcache
