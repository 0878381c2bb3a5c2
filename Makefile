# trunkline — one entry point for people and CI.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 30s
BIN       ?= bin/trunkline

.PHONY: run build test lint vet fmt-check fuzz bench bench-quick bench-micro screenshot clean

## run: embedded broker + fleet simulator + processor + live console (Ctrl-C stops)
run:
	$(GO) run ./cmd/trunkline dev

## build: the trunkline binary in bin/
build:
	$(GO) build -o $(BIN) ./cmd/trunkline

## test: formatting, vet and every test with the race detector
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## lint: gofmt and go vet
lint: fmt-check vet

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

## bench: the end-to-end benchmark harness, full sizes (about 15 min): progress on stderr,
## report, JSON and latency chart in bench/results/, CPU profiles in bench/results/tmp/
bench:
	$(GO) build -o bin/trunkline-bench ./cmd/trunkline-bench
	bin/trunkline-bench --out bench/results --cpuprofile bench/results/tmp

## bench-quick: the harness at a tenth of the sizes, one run (under a minute); ends with one
## JSON line per scenario on stdout; report in bench/results/tmp/
bench-quick:
	@$(GO) build -o bin/trunkline-bench ./cmd/trunkline-bench
	@bin/trunkline-bench --quick --out bench/results/tmp

## bench-micro: micro-benchmarks beside the code
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## screenshot: render the dev status page in headless Chromium and write docs/status-page.png
screenshot:
	TRUNKLINE_SCREENSHOT=$(CURDIR)/docs/status-page.png TRUNKLINE_SCREENSHOT_AFTER=60s \
	  $(GO) test -count=1 -run '^TestStatusPageInChromium$$' -v ./cmd/trunkline

clean:
	rm -rf bin
