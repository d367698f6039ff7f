#!/usr/bin/env bash
# Installs the host tools the end-to-end test uses when they are missing:
# mmdebstrap and mke2fs build the guests, qemu runs them, mksquashfs writes
# the corpus images made by another tool, dpkg-deb unpacks busybox-static.
# As root it installs them with apt; otherwise it says what to install.
set -euo pipefail
need=()
for tool in mmdebstrap:mmdebstrap mke2fs:e2fsprogs qemu-system-x86_64:qemu-system-x86 mksquashfs:squashfs-tools dpkg-deb:dpkg; do
	command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "host-tools.sh: the e2e test needs: apt-get install ${need[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
