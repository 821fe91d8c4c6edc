# Herald's build. Every target needs only Go; "make" alone builds bin/herald.

GO       ?= go
SHELL    := bash
.SHELLFLAGS := -eu -o pipefail -c

# Release builds pass VERSION=v1.2.3; otherwise herald reports the module
# version recorded by the Go toolchain, or "dev".
VERSION  ?=
LDFLAGS  := $(if $(VERSION),-X github.com/heraldhq/herald/cmd/herald/internal/cli.Version=$(VERSION))

# Fuzz targets as package:FuzzFunc. A target whose package does not (yet)
# define the function is skipped.
FUZZ_TARGETS ?= ./lang/template:FuzzParse ./lang:FuzzLoad ./lang:FuzzFormat ./lang/srcmap:FuzzForLiteral ./executor/inbound:FuzzSegment
FUZZTIME     ?= 2m
# make test fuzzes for a count of executions, not a duration: with a duration,
# Go 1.26's fuzz coordinator can report "context deadline exceeded" as a
# failure when its deadline races a busy worker (go.dev/issue/75804, fixed in
# Go 1.27), which failed CI once with no failing input found.
FUZZTIME_SHORT ?= 2000x

.PHONY: build test fuzz demo bench fmt lint

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/herald ./cmd/herald

test:
	$(GO) vet ./...
	$(GO) test ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  if ! grep -qs "^func $$fn(" $$pkg/*_test.go; then \
	    echo "fuzz: skipping $$fn: not in $$pkg"; continue; \
	  fi; \
	  echo "fuzz: $$pkg $$fn for $(FUZZTIME)"; \
	  log=$$(mktemp); \
	  if ! $(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg 2>&1 | tee $$log; then \
	    if grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
	      echo "fuzz: $$fn hit Go's fuzztime deadline race (go.dev/issue/75804), no failing input; not a finding"; \
	    else rm -f $$log; exit 1; fi; \
	  fi; rm -f $$log; \
	done

demo: build
	./bin/herald -chdir examples/quickstart validate
	./bin/herald -chdir examples/quickstart plan
	@echo
	@echo "Applying everything but the ad audience, which needs Google Ads credentials:"
	./bin/herald -chdir examples/quickstart plan -exclude=audience -out plan.herald > /dev/null
	./bin/herald -chdir examples/quickstart apply plan.herald
	@echo
	@echo "The messages are in examples/quickstart/.herald/outbox (one .eml per e-mail);"
	@echo "scheduled sends wait in the ledger for herald run. Run make demo again and the"
	@echo "plan has nothing left to send."
	@echo
	@echo "The runner: a trigger firing, in a scratch copy of the quickstart."
	examples/quickstart/demo-trigger.sh bin/herald

# Every figure in BENCHMARKS.md: validate, plan in process and the real
# binary's wall time and peak RSS next to a bare encoding/csv scan's
# (bench/), CEL evaluation (planner/eval), pushdown (bench/,
# planner/pushdown; PostgreSQL from internal/pgtest), the CSV reader, ledger
# writes (state), apply throughput and event ingest (executor).
# Several minutes. The full output goes to bench/last.txt (not in git); the lines
# with issue 4's figures are printed again at the end. pipefail: a failing
# benchmark fails make bench, not only tee.
BENCH_PKGS ?= ./bench/... ./planner/... ./providers/files/ ./state/ ./executor/
BENCH_SUMMARY := ^Benchmark(PlanBinary|Plan/plan|Segment/ratio|Segment/hot/ratio|Pushdown/ratio)-
bench:
	@mkdir -p bench
	bash -o pipefail -c "HERALD_BENCH_GO='$(GO)' $(GO) test -run='^\$$' -bench=. -benchmem -benchtime=3x -timeout=30m $(BENCH_PKGS) | tee bench/last.txt"
	@echo
	@echo "Issue 4's figures (plan binary: plan-s, plan-MiB, scan-s, scan-MiB, plan/scan-time, plan/scan-RSS;"
	@echo "CEL: specialised/go; pushdown: pushdown/in-memory, query-pushdown/handwritten):"
	@grep -E '$(BENCH_SUMMARY)' bench/last.txt || echo "(none found: see bench/last.txt)"

fmt:
	gofmt -w .
	@$(MAKE) --no-print-directory build && for d in examples/quickstart examples/waiver; do ./bin/herald fmt $$d; done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
