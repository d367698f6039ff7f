# mkportable: the two commands a fresh machine needs are `make example` and
# `make test`. `make test` first installs (as root) the Debian packages of
# scripts/deps.txt that the tests run, or says which ones to install.

GO ?= go

.PHONY: all build deps example test test-short e2e nix-check fuzz bench clean

all: build

build:
	$(GO) build -trimpath -buildvcs=auto -o bin/mkportable ./cmd/mkportable

# The example of the README: the web server of testdata/web-server, built
# statically into a store-like directory named as Nix would name it, then
# imaged as out/web-server_20220227.raw. The 32-character "hash" is the
# binary's SHA-256 in Nix's base-32 alphabet, not a real Nix store hash: it
# only has to change when the program does. ANSWER_PREFIX changes what the
# server answers (the upgrade test rebuilds with another).
EXAMPLE_NAME    := web-server
EXAMPLE_VERSION := 20220227
ANSWER_PREFIX   ?= PORTABLE=
example:
	mkdir -p out/bin out/store
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false \
		-ldflags '-s -w -X "main.answerPrefix=$(ANSWER_PREFIX)"' \
		-o out/bin/$(EXAMPLE_NAME) ./testdata/web-server/server
	set -e; \
	hash=$$(sha256sum out/bin/$(EXAMPLE_NAME) | cut -c1-32 | tr 'abcdef' 'abcdfg'); \
	store=/nix/store/$$hash-$(EXAMPLE_NAME)-$(EXAMPLE_VERSION); \
	rm -rf out/store/*-$(EXAMPLE_NAME)-$(EXAMPLE_VERSION); \
	mkdir -p out/store/$$hash-$(EXAMPLE_NAME)-$(EXAMPLE_VERSION)/bin; \
	cp out/bin/$(EXAMPLE_NAME) out/store/$$hash-$(EXAMPLE_NAME)-$(EXAMPLE_VERSION)/bin/; \
	$(GO) run ./cmd/mkportable build testdata/web-server/spec.json -o out \
		--store-dir out/store --store-path $$store --subst web=$$store

# The programs the tests, `make bench` and `make nix-check` run
# (scripts/deps.txt): installed as root, otherwise named, and a failure.
deps:
	./scripts/deps.sh

# Every package's tests, including the checks against unsquashfs, sqfsdiff,
# mksquashfs, go-diskfs and (as root) the kernel, which must run: a missing
# program fails its test (MKPORTABLE_SKIP_TOOLS=1 skips it instead), and the
# checks that ran are counted at the end. go test's default 10-minute
# timeout is enough; -timeout leaves room on a machine busier than ours.
CHECK_LOG := .cache/test-checks.log
test: deps
	$(GO) vet ./...
	mkdir -p .cache
	rm -f $(CHECK_LOG)
	MKPORTABLE_CHECK_LOG=$(CURDIR)/$(CHECK_LOG) $(GO) test -count=1 -timeout 15m ./...
	./scripts/checks-summary.sh $(CHECK_LOG)

# Two guests with systemd as PID 1 under qemu, Debian 12 (systemd 252) and
# Debian 13 (systemd 257): each attaches, upgrades and detaches the example
# image with portablectl, then judges every image of the differential
# corpus (e2e/corpus_test.go), and `mkportable inspect` must predict each
# verdict; the verdicts go to .cache/e2e/verdicts.json. The guests are
# built from Debian packages by scripts/e2e/build-guest.sh and cached in
# .cache/e2e under the script's hash. The example built by nix-build
# (make nix-check, run first if its image is missing) is attached too.
e2e:
	test -f .cache/nix/web-server_20220227.raw || $(MAKE) nix-check
	MKPORTABLE_E2E=1 $(GO) test -count=1 -v -timeout 45m ./e2e

# What can be checked of flake.nix without nixpkgs: parsing, the pure spec
# function against nix/golden-spec.json, that spec building an image, and
# the pinned vendorHash.
nix-check: deps
	./nix/check.sh

test-short:
	$(GO) test -short ./...

# Each fuzz target for a while; FUZZTIME=30m for longer (-timeout 0: go
# test's default 10 minutes would end a longer run). ddi's inputs are
# disk images of kilobytes: minimizing each new one byte by byte for the
# default minute would take the whole run.
FUZZTIME ?= 60s
FUZZ_TARGETS := \
	./squashfs:FuzzWrite ./squashfs:FuzzReader \
	./internal/lzma:FuzzEncode ./internal/lzma:FuzzDecoder \
	./internal/zstd:FuzzCompress ./internal/zstd:FuzzRoundTrip ./internal/zstd:FuzzParse \
	./internal/xz:FuzzDecode ./internal/xz:FuzzX86 \
	./unit:FuzzParse ./unit:FuzzSubstitute \
	./portable:FuzzOSRelease ./portable:FuzzCheck ./portable:FuzzExtensions \
	./inspect:FuzzInspect ./verity:FuzzVerify ./pkcs7:FuzzVerify \
	./internal/gpt:FuzzRead ./ddi:FuzzRead
fuzz:
	set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		extra=; [ "$$pkg" != ./ddi ] || extra="-fuzzminimizetime 5s"; \
		echo "fuzz: $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -timeout 0 $$extra; \
	done

# mkportable against mksquashfs and unsquashfs on every corpus a fresh
# machine can make (scripts/bench.sh: BENCH=full adds a Debian root, an npm
# tree and 10^6 small files; BENCH_ONLY=goroot,small picks), one table of
# ratios with the targets beside them; then the Go benchmarks of the
# writer, the block pipeline, the reader, the LZMA encoder, decoder and
# incompressibility estimate, and the zstd encoder's levels.
bench: deps
	./scripts/bench.sh
	$(GO) test ./squashfs -run '^$$' -bench . -benchmem
	$(GO) test ./internal/lzma -run '^$$' -bench . -benchmem
	$(GO) test ./internal/zstd -run '^$$' -bench . -benchmem

clean:
	rm -rf bin out
