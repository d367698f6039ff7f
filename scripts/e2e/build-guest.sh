#!/usr/bin/env bash
# Builds the Debian 12 guest the end-to-end test boots: systemd as PID 1,
# portablectl (systemd-container), dbus and curl, from Debian's packages
# only (no prebuilt VM image). Output, in $1: rootfs.img (ext4), vmlinuz,
# initrd.img. The caller caches the directory under a key made from this
# script's hash, so an edit here rebuilds the guest.
set -euo pipefail

out=$1
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

need=()
for tool in mmdebstrap:mmdebstrap mke2fs:e2fsprogs qemu-system-x86_64:qemu-system-x86; do
	command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi

root=$work/root
# minbase plus what the test uses: systemd and portablectl, dbus for
# portabled, curl to ask the service, a kernel and an initramfs to boot.
mmdebstrap --variant=minbase --quiet \
	--include=systemd,systemd-sysv,systemd-container,dbus,curl,udev,kmod,linux-image-amd64,initramfs-tools,e2fsprogs \
	--dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
	bookworm "$root"

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
TimeoutStartSec=600

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/e2e.service "$root/etc/systemd/system/multi-user.target.wants/e2e.service"

cp -L "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp -L "$root"/boot/initrd.img-* "$out/initrd.img"
mke2fs -q -t ext4 -d "$root" "$out/rootfs.img" 2G
echo "guest built in $out"
