#!/usr/bin/env bash
# Prints the vendorHash buildGoModule expects for go.mod and go.sum: the
# NAR hash (SRI) of what `go mod vendor` writes. nix/update-vendor-hash.sh
# writes it into nix/package.nix; nix/check.sh compares.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go mod vendor -o "$tmp/vendor"
nix --extra-experimental-features nix-command hash path --type sha256 "$tmp/vendor"
