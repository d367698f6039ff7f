# mkportable: the two commands a fresh machine needs are `make example` and
# `make test`; .ci/run installs the tools the tests use, then runs make test.

GO ?= go

.PHONY: all build test test-short fuzz bench clean

all: build

build:
	$(GO) build -trimpath -o bin/mkportable ./cmd/mkportable

# Every package's tests, including the checks against unsquashfs, sqfsdiff,
# mksquashfs, go-diskfs and (as root) the kernel.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

test-short:
	$(GO) test -short ./...

# Each fuzz target for a while; FUZZTIME=10m for longer.
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./squashfs -run '^$$' -fuzz FuzzWrite -fuzztime $(FUZZTIME)

# mkportable squash against mksquashfs on GOROOT: time, size and peak RSS as
# ratios. BENCH_SRC=/some/tree to use another tree.
bench:
	./scripts/bench.sh $(BENCH_SRC)
	$(GO) test ./squashfs -run '^$$' -bench . -benchmem

clean:
	rm -rf bin out
