#!/usr/bin/env bash
# What CI can check of the Nix side without fetching nixpkgs (which this
# machine cannot): every .nix file parses; the pure spec function turns
# sample portableService arguments into exactly nix/golden-spec.json; that
# spec builds an image `mkportable inspect` accepts; and nix/package.nix's
# vendorHash still matches go.mod and go.sum. Building the flake itself
# needs nixpkgs and runs wherever `nix build .#checks.x86_64-linux.example`
# can fetch it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nix-instantiate >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq nix-bin >/dev/null
fi

for f in flake.nix nix/*.nix; do
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
sed "s|@web@|$store|" testdata/web-server/web-server.service.in >"$work/build/units/web-server.service"
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
