# make run   — the sidecar on its embedded default (a simtown fleet of 20 towns)
# make test  — the whole suite, installing what the end-to-end tests need
GO       ?= go
BIN      := bin/tickwatch
PKG      := github.com/prometheus/common/version
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) -X $(PKG).Branch=main \
            -X $(PKG).BuildUser=$(shell whoami)@$(shell hostname) -X $(PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)

IMAGE    ?= tickwatch:latest

.PHONY: all build run test deps bench bench-fleet bench-worker fuzz soak lint generate check-alerting image image-deps test-scale
all: build

# A static binary: simtown's SQLite is pure Go, so nothing needs cgo, and the
# image can be scratch.
build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tickwatch

run: build
	./$(BIN) run

# Debian's prometheus (with promtool) and alertmanager (with amtool) for the
# end-to-end tests, chromium for the browser tests of the status pages, and
# curl and jq for the real Gastown worker's seed script; a no-op when they
# are already installed.
deps:
	@command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null && \
	  command -v curl >/dev/null && command -v jq >/dev/null && test -x /usr/bin/chromium || \
	  { echo "installing prometheus, prometheus-alertmanager, chromium, curl and jq"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager chromium curl jq >/dev/null; }

# The real Gastown worker for the conformance suite (e2e/conformance): its
# scripts, when they sit beside the checkout, set it up once in GASTOWN_DIR
# (npm packages; about a minute the first time, reused after), one per
# checkout, since a run starts the worker fresh in it.
GASTOWN_SCRIPTS ?= $(abspath $(wildcard ../shared/gastown))
GASTOWN_DIR     ?= /tmp/tickwatch-gastown-$(shell echo '$(CURDIR)' | cksum | cut -d' ' -f1)

# The race detector, without checkptr in SQLite's transpiled C (modernc.org):
# its pointer checks cost simtown's tests three quarters of their time and
# look at none of our code.
RACE := -race -gcflags='modernc.org/...=-d=checkptr=0'

test: deps lint check-alerting
	@if [ -n "$(GASTOWN_SCRIPTS)" ]; then \
	  echo "setting up the real Gastown worker in $(GASTOWN_DIR)"; \
	  dir=$$("$(GASTOWN_SCRIPTS)/setup.sh" "$(GASTOWN_DIR)" | tail -n 1) && [ -d "$$dir" ] || { echo "setting up the Gastown worker failed"; exit 1; }; \
	  export TICKWATCH_GASTOWN_DIR="$$dir" TICKWATCH_GASTOWN_SCRIPTS="$(GASTOWN_SCRIPTS)"; \
	else \
	  echo "conformance suite against the real Gastown worker skipped: no ../shared/gastown (give GASTOWN_SCRIPTS=DIR)"; \
	fi; \
	mkdir -p test-artifacts; \
	$(GO) test $(RACE) -count=1 -timeout 20m -artifacts -outputdir $(CURDIR)/test-artifacts ./...

# The end-to-end scale-out proof at full size: 3,000 simtown towns, the
# StatefulSet's three shards resized to four, one killed (make test runs it
# with 300). It prints the figures the deployment's resources come from.
test-scale: deps
	$(GO) test -count=1 -timeout 20m -run TestScaleOut -v ./e2e -scale.towns=3000

# The checked-in alert rules, their unit tests and the Alertmanager config,
# through the real tools (the Go tests in alerts/rules run them too).
check-alerting: deps
	cd deploy/prometheus && promtool check rules tickwatch-rules.yml && promtool test rules tickwatch-rules.test.yml && promtool check config prometheus.yml
	amtool check-config deploy/alertmanager/alertmanager.yml

# Regenerate the checked-in dashboard and rules under deploy/ after changing
# the code or the default thresholds (tests fail while they drift).
generate:
	$(GO) test -count=1 -run TestGeneratedFilesUpToDate ./grafana -update
	$(GO) test -count=1 ./alerts/rules -update

# Debian's podman (and runc, which runs containers where crun cannot, as on
# cgroup v1/v2 hybrid hosts) and the CA bundle the image copies.
image-deps:
	@command -v podman >/dev/null && command -v runc >/dev/null && test -f /etc/ssl/certs/ca-certificates.crt || \
	  { echo "installing podman, runc and ca-certificates"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc ca-certificates >/dev/null; }

# The container image $(IMAGE), built by podman from the static binary, with
# no base image to fetch (see Dockerfile).
image: build image-deps
	rm -rf .build/image && mkdir -p .build/image/etc/ssl/certs
	cp $(BIN) .build/image/tickwatch
	cp /etc/ssl/certs/ca-certificates.crt .build/image/etc/ssl/certs/
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > .build/image/etc/passwd
	printf 'root:x:0:\nnobody:x:65534:\n' > .build/image/etc/group
	podman build --quiet -f Dockerfile -t $(IMAGE) .build/image

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

# tickwatch next to a bare keep-alive client against a fake target of 1,000
# and 10,000 towns, over HTTP and HTTPS, alternating in one sitting: CPU per
# 1,000 town polls, peak RSS, series per town, scrape time and size. Not
# part of make test; about 8 minutes. FLEET_ARGS passes flags, for example
# FLEET_ARGS='-towns 10000 -schemes https -window 30s'.
FLEET_ARGS ?=
bench-fleet: build
	$(GO) run ./bench/fleet -bin $(BIN) $(FLEET_ARGS)

# tickwatch for DURATION against SOAK_TOWNS simtown towns and, when its
# scripts are beside the checkout, the real Gastown worker with a few seeded
# towns, with faults on a schedule; prints what was lost, wrongly reported,
# how the footprint drifted, scrape latency and the longest tick. Not part of
# make test. About 4 GB of memory for 10,000 towns.
DURATION   ?= 30m
SOAK_TOWNS ?= 10000
soak: build
	$(GO) run ./bench/soak -duration $(DURATION) -towns $(SOAK_TOWNS) -bin $(BIN) \
	  -gastown.scripts "$(GASTOWN_SCRIPTS)" -gastown.dir $(GASTOWN_DIR)-soak

# The CPU tickwatch costs the real Gastown worker: the worker's process tree
# over WORKER_WINDOW windows, alone, with the BEFORE binary and with this one
# polling WORKER_TOWNS seeded towns, in one sitting under the measure lock.
# SAVEPOINT=patched measures the variant whose dry run works. BEFORE is, for
# example, a build of main (empty: only this binary). Not part of make test.
BEFORE        ?=
SAVEPOINT     ?= real
WORKER_TOWNS  ?= 8
WORKER_WINDOW ?= 90s
WORKER_PORT   ?= 18797
bench-worker: build
	$(GO) build -o bin/workerload ./bench/workerload
	"$(GASTOWN_SCRIPTS)/setup.sh" $(GASTOWN_DIR)-workerload >/dev/null
	flock /tmp/tickwatch-measure.lock ./bin/workerload -gastown.scripts "$(GASTOWN_SCRIPTS)" -gastown.dir $(GASTOWN_DIR)-workerload \
	  -savepoint $(SAVEPOINT) -towns $(WORKER_TOWNS) -window $(WORKER_WINDOW) -port $(WORKER_PORT) -before "$(BEFORE)" -after $(BIN)

# Every fuzz target for FUZZTIME each; what a target finds is written to its
# package's testdata/fuzz and replayed by every later go test. (make test runs
# the seed corpora only.)
FUZZTIME ?= 30s
fuzz:
	@set -e; for dir in $$(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | cut -c6-); do \
	    echo "== $$dir $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./$$dir; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
