#!/usr/bin/env bash
# Builds a guest the end-to-end test boots: Debian with systemd as PID 1,
# portablectl and systemd-portabled, dbus and curl, from Debian's packages
# only (no prebuilt VM image).
#
#   build-guest.sh RELEASE OUT
#
# RELEASE is bookworm (Debian 12, systemd 252) or trixie (Debian 13,
# systemd 257). Output, in OUT: rootfs.img (ext4), vmlinuz, initrd.img and
# release (the Debian release and the systemd package version). The caller
# caches OUT under a key made from this script's hash and RELEASE, so an
# edit here rebuilds the guests.
set -euo pipefail

release=${1:?usage: build-guest.sh RELEASE OUT}
out=${2:?usage: build-guest.sh RELEASE OUT}

# Both releases ship portablectl, systemd-portabled and systemd-dissect in
# systemd-container, systemd-sysext in systemd (257 adds systemd-confext,
# a link to it). Beyond what portabled needs, the guests carry what the
# dm-verity and sysext tests use, so they need not be rebuilt for them:
# libcryptsetup12 (systemd dlopens it for verity), cryptsetup-bin
# (veritysetup), dmsetup, kmod; trixie moved systemd-repart into a package
# of its own.
packages=systemd,systemd-sysv,systemd-container,dbus,curl,udev,kmod,linux-image-amd64,initramfs-tools,e2fsprogs
packages+=,libcryptsetup12,cryptsetup-bin,dmsetup
case $release in
bookworm) ;;
trixie) packages+=,systemd-repart ;;
*)
	echo "build-guest.sh: unknown release $release (want bookworm or trixie)" >&2
	exit 2
	;;
esac

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bash "$(dirname "$0")/host-tools.sh"

# The Debian mirror the host's apt uses (deb822 or one-line sources),
# deb.debian.org when none is found.
mirror=$(
	{
		sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | tr ' ' '\n' | grep -E '^https?://[^ ]*/debian/?$' | head -1
) || true
mirror=${mirror:-http://deb.debian.org/debian}

root=$work/root
mmdebstrap --variant=minbase --quiet --include="$packages" \
	--dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
	"$release" "$root" "$mirror"

# A first boot must never wait for input: a fixed machine id, no
# firstboot wizard, no getty on the serial console the test reads.
echo 0123456789abcdef0123456789abcdef >"$root/etc/machine-id"
ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
echo e2e-guest >"$root/etc/hostname"
printf '/dev/vda / ext4 rw 0 1\n' >"$root/etc/fstab"

# The test: a oneshot unit runs /e2e/run.sh from the second disk, writing
# to the serial console between markers, then powers the guest off. It is
# wanted by multi-user.target but not ordered after it (that would be a
# cycle).
mkdir -p "$root/e2e"
cat >"$root/etc/systemd/system/e2e.service" <<'UNIT'
[Unit]
Description=mkportable end-to-end test
After=dbus.service network.target
Wants=dbus.service

[Service]
Type=oneshot
ExecStartPre=/bin/mount -o ro /dev/vdb /e2e
ExecStart=/bin/bash /e2e/run.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
ExecStopPost=/bin/systemctl --no-block poweroff
TimeoutStartSec=1800

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/e2e.service "$root/etc/systemd/system/multi-user.target.wants/e2e.service"

cp -L "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp -L "$root"/boot/initrd.img-* "$out/initrd.img"
printf '%s systemd %s\n' "$release" \
	"$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' systemd)" >"$out/release"
mke2fs -q -t ext4 -d "$root" "$out/rootfs.img" 2G
echo "guest $release built in $out"
