#!/usr/bin/env bash
# Recomputes nix/package.nix's vendorHash after go.mod or go.sum change.
set -euo pipefail
cd "$(dirname "$0")/.."
hash=$(nix/vendor-hash.sh)
sed -i "s|vendorHash = \"sha256-[^\"]*\";|vendorHash = \"$hash\";|" nix/package.nix
echo "vendorHash = $hash"
