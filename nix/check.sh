#!/usr/bin/env bash
# `make nix-check`: the Nix side, checked with Debian's nix-bin (2.8, run
# with `sandbox = false`) and no network:
#  1. every .nix file parses;
#  2. the pure spec function turns nix/test-args.nix into exactly
#     nix/golden-spec.json, and that spec builds an image inspect accepts;
#  3. nix/package.nix's vendorHash still matches go.mod and go.sum;
#  4. nix-build builds flake.nix's checks.<system>.example (the README's
#     example: the web server through lib.portableService) from a real
#     /nix/store closure, with nix/test/fake-nixpkgs.nix, a test double, as
#     nixpkgs; `nix-build --check` rebuilds it and must give the same bytes.
#     The image is left at .cache/nix/web-server_20220227.raw for the e2e
#     test. Building needs root (Debian's nix-bin has no daemon running).
# The mkportable and web-server binaries the double's buildGoModule puts in
# the store are built here first, statically, into .cache/nix/prebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

# The settings every nix command here runs with, whatever the host's
# nix.conf says (a fresh nix-bin has none, and Nix's own defaults are a
# sandbox and a nixbld group that nothing has created): the test double's
# builders run the host's /bin/sh, so builds are not sandboxed, and they
# run as root without build users; the substituter is unreachable here, so
# no retries are spent on it.
export NIX_CONFIG='sandbox = false
build-users-group =
substituters ='

for f in flake.nix nix/*.nix nix/test/*.nix; do
	nix-instantiate --parse "$f" >/dev/null
	echo "nix: $f parses"
done

same=$(nix-instantiate --eval --expr \
	'builtins.fromJSON (builtins.readFile ./nix/golden-spec.json) == import ./nix/spec.nix (import ./nix/test-args.nix)')
if [ "$same" != true ]; then
	echo "nix: spec.nix on test-args.nix differs from golden-spec.json:" >&2
	nix-instantiate --eval --strict --json -E 'import ./nix/spec.nix (import ./nix/test-args.nix)' >&2
	exit 1
fi
echo "nix: spec.nix gives golden-spec.json"

# Build the golden spec as the derivation would lay it out: units/ and
# closure-info beside spec.json, the store paths in a stand-in store.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store=/nix/store/11111111111111111111111111111111-web-server-20220227
mkdir -p "$work/build/units" "$work/build/closure-info" "$work/store/${store##*/}/bin" "$work/out"
CGO_ENABLED=0 go build -trimpath -o "$work/store/${store##*/}/bin/web-server" ./testdata/web-server/server
sed "s|@web@|$store|" testdata/web-server/web-server.service >"$work/build/units/web-server.service"
echo "$store" >"$work/build/closure-info/store-paths"
cp nix/golden-spec.json "$work/build/spec.json"
go run ./cmd/mkportable build "$work/build/spec.json" -o "$work/out" --store-dir "$work/store"
go run ./cmd/mkportable inspect "$work/out/web-server_20220227.raw" >/dev/null
echo "nix: golden-spec.json builds an image inspect accepts"

want=$(sed -n 's|.*vendorHash = "\(sha256-[^"]*\)";.*|\1|p' nix/package.nix)
got=$(nix/vendor-hash.sh)
if [ "$want" != "$got" ]; then
	echo "nix: nix/package.nix has vendorHash $want but go.mod/go.sum give $got; run nix/update-vendor-hash.sh" >&2
	exit 1
fi
echo "nix: vendorHash $got matches go.mod and go.sum"

# 4. A real nix-build.
if [ ! -w /nix/store ] && [ ! -w /nix ] && [ ! -S /nix/var/nix/daemon-socket/socket ]; then
	echo "nix: nix-build needs root here (Debian's nix-bin store is root's, and no nix-daemon runs): run make nix-check as root" >&2
	exit 1
fi
cache=.cache/nix
prebuilt=$cache/prebuilt
mkdir -p "$prebuilt/mkportable/bin" "$prebuilt/web-server/bin"
CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$prebuilt/mkportable/bin/mkportable" ./cmd/mkportable
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags '-s -w' \
	-o "$prebuilt/web-server/bin/web-server" ./testdata/web-server/server
args=(nix/test/example.nix --arg prebuilt "./$prebuilt")
image=web-server_20220227.raw

echo "nix: nix-build ${args[*]}"
nix-build "${args[@]}" -o "$cache/result"
built=$(sha256sum <"$cache/result/$image" | cut -d' ' -f1)
out=$(readlink "$cache/result")
echo "nix: built $out/$image"
echo "nix:   sha256 $built"
echo "nix:   closure: $(tr '\n' ' ' <"$(nix-store --query --references "$(nix-store --query --deriver "$out")" |
	grep -- '-closure-info.drv$' | xargs nix-store --query --outputs)/store-paths")"

echo "nix: nix-build --check ${args[*]}"
log=$cache/check.log
if ! nix-build --check "${args[@]}" --no-out-link 2>&1 | tee "$log"; then
	echo "nix: nix-build --check failed: the rebuild differs (see $log)" >&2
	exit 1
fi
# mkportable prints the SHA-256 of the image it wrote in the rebuild.
rebuilt=$(sed -n 's/^ *sha256 \([0-9a-f]\{64\}\)$/\1/p' "$log" | head -1)
echo "nix: --check rebuilt $(nix-store --query --deriver "$out"): same output"
echo "nix:   sha256 $rebuilt (printed by mkportable in the rebuild)"
if [ "$rebuilt" != "$built" ]; then
	echo "nix: the --check rebuild wrote sha256 ${rebuilt:-(none printed)}, the first build $built" >&2
	exit 1
fi

# A control: --check does fail on a build whose output differs each time.
control='(import ./nix/test/fake-nixpkgs.nix { prebuilt = ./.; }).legacyPackages.${builtins.currentSystem}.runCommand
	"nondeterministic" { } "cat /proc/sys/kernel/random/uuid > $out"'
nix-build -E "$control" --no-out-link >/dev/null 2>&1
if nix-build --check -E "$control" --no-out-link >/dev/null 2>&1; then
	echo "nix: nix-build --check passed a build that writes a random uuid: it checks nothing" >&2
	exit 1
fi
echo "nix: control: --check fails on a build that writes a random uuid"

install -m 0644 "$cache/result/$image" "$cache/$image"
echo "nix: reproducible; the image is at $cache/$image for the e2e test"
