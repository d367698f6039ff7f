#!/usr/bin/env bash
# Side-by-side: mkportable squash against mksquashfs on the same tree, the
# Go toolchain's own GOROOT by default (about 240 MB, 16,700 entries). Both
# get two workers and the same block size and compressor; it prints wall
# time, image size and peak RSS, and each as a ratio ours / mksquashfs.
# Both runs happen back to back in one invocation, so the ratios compare
# like with like on a noisy machine.
set -euo pipefail

src=${1:-$(go env GOROOT)}
jobs=${JOBS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v mksquashfs >/dev/null || { echo "bench: mksquashfs is missing (apt-get install squashfs-tools)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

go build -trimpath -o "$work/mkportable" ./cmd/mkportable

# measure NAME IMAGE CMD...: runs CMD under GNU time and records seconds,
# bytes and peak KiB in $work/NAME.
measure() {
	local name=$1 image=$2
	shift 2
	rm -f "$image"
	sync
	/usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >/dev/null
	read -r secs rss <"$work/$name.time"
	echo "$secs $(stat -c %s "$image") $rss" >"$work/$name"
}

echo "tree: $src ($(du -sh --apparent-size "$src" | cut -f1), $(find "$src" | wc -l) entries), $jobs workers, xz, 1 MiB blocks"
measure mksquashfs "$work/theirs.sqfs" mksquashfs "$src" "$work/theirs.sqfs" -comp xz -b 1M -all-root -processors "$jobs" -no-progress -quiet
measure mkportable "$work/ours.sqfs" "$work/mkportable" squash "$src" "$work/ours.sqfs" --compression xz --block-size 1M --jobs "$jobs" --quiet

read -r t1 s1 r1 <"$work/mksquashfs"
read -r t2 s2 r2 <"$work/mkportable"
awk -v t1="$t1" -v s1="$s1" -v r1="$r1" -v t2="$t2" -v s2="$s2" -v r2="$r2" 'BEGIN {
	printf "%-12s %10s %14s %14s\n", "", "time (s)", "size (bytes)", "peak RSS (KiB)"
	printf "%-12s %10.2f %14d %14d\n", "mksquashfs", t1, s1, r1
	printf "%-12s %10.2f %14d %14d\n", "mkportable", t2, s2, r2
	printf "%-12s %9.2fx %13.3fx %13.2fx\n", "ours/theirs", t2 / t1, s2 / s1, r2 / r1
}'
