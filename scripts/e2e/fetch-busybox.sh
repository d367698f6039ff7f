#!/usr/bin/env bash
# Fetches Debian's busybox-static package with apt and extracts its static
# busybox to OUT/busybox, for the e2e corpus images. The caller caches OUT
# under a key made from this script's hash.
#
#   fetch-busybox.sh OUT
set -euo pipefail
out=${1:?usage: fetch-busybox.sh OUT}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download busybox-static >/dev/null 2>&1; then
	# A fresh machine may have no package lists yet.
	apt-get update -qq
	apt-get download busybox-static >/dev/null
fi
deb=$(ls busybox-static_*.deb)
dpkg-deb -x "$deb" x
bin=x/bin/busybox
[ -f "$bin" ] || bin=x/usr/bin/busybox
cp "$bin" "$out/busybox"
chmod 755 "$out/busybox"
echo "$deb" >"$out/source"
"$out/busybox" true
echo "busybox from $deb in $out"
