#!/usr/bin/env bash
# make bench: mkportable against mksquashfs (and unsquashfs) on every corpus
# a fresh machine can make, side by side in one run, printed as one table
# of ratios (ours / theirs: wall time, CPU time, image size, peak RSS) with
# the targets of issue 12 beside them.
#
#   BENCH=full        also the heavy corpora: a Debian root (mmdebstrap),
#                     an npm tree (the npm registry), 10^6 small files
#   BENCH_ONLY=a,b    only these corpora (goroot, zstd, small, random,
#                     sparse, cache, debian, npm, small1m)
#   BENCH_ROUNDS=N    run each pair N times, interleaved, and keep the
#                     fastest of each (default 1)
#   JOBS=N            workers for both tools (default 2)
#
# Corpora are made once and kept under .cache/bench. Both tools get the
# same block size, compressor and number of workers; each pair runs back
# to back, so a ratio compares like with like on a noisy machine (the load
# average is printed with each table). The reader rows read every file of
# our image through squashfs.Reader (scripts/readall.go) against
# `unsquashfs -d` extracting it.
set -euo pipefail

cd "$(dirname "$0")/.."
cache=$PWD/.cache/bench
jobs=${JOBS:-2}
rounds=${BENCH_ROUNDS:-1}
mode=${BENCH:-default}
work=$(mktemp -d)
shm= # a tmpfs directory for the reader rows, where there is one
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ]; then
	shm=$(mktemp -d /dev/shm/mkportable-bench.XXXXXX)
fi
trap 'rm -rf "$work" ${shm:+"$shm"}' EXIT
mkdir -p "$cache"

for tool in mksquashfs unsquashfs; do
	command -v $tool >/dev/null || { echo "bench: $tool is missing (apt-get install squashfs-tools)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

go build -trimpath -o "$work/mkportable" ./cmd/mkportable
ours=$work/mkportable
go build -trimpath -o "$work/readall" scripts/readall.go
readall=$work/readall

want() { # want NAME: is corpus NAME part of this run?
	local name=$1
	if [ -n "${BENCH_ONLY:-}" ]; then
		[[ ",$BENCH_ONLY," == *",$name,"* ]]
		return
	fi
	case $name in
	debian | npm | small1m) [ "$mode" = full ] ;;
	*) true ;;
	esac
}

if want debian || want npm; then
	./scripts/deps.sh scripts/deps-bench.txt
fi

# measure KEY IMAGE CMD...: runs CMD under GNU time, keeps the fastest
# round's wall seconds, CPU seconds, image bytes and peak KiB in
# $work/KEY.
measure() {
	local key=$1 image=$2
	shift 2
	[ -n "$image" ] && rm -f "$image"
	sync
	/usr/bin/time -f '%e %U %S %M' -o "$work/$key.t" "$@" >/dev/null
	local secs user sys rss size=0
	read -r secs user sys rss <"$work/$key.t"
	[ -n "$image" ] && size=$(stat -c %s "$image")
	local cpu
	cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
	if [ -f "$work/$key" ]; then
		local old
		read -r old _ <"$work/$key"
		awk -v a="$secs" -v b="$old" 'BEGIN { exit !(a < b) }' || return 0
	fi
	echo "$secs $cpu $size $rss" >"$work/$key"
}

rows=$work/rows
: >"$rows"
# row CORPUS THEIRS OURS TARGETS: a line per measure of the pair.
# TARGETS is "time size rss" maxima of ours/theirs, "-" for none.
row() {
	local corpus=$1 theirs=$2 ours=$3 tt=$4 ts=$5 tr=$6
	local a b
	read -r -a a <"$work/$theirs"
	read -r -a b <"$work/$ours"
	echo "$corpus|time (s)|${a[0]}|${b[0]}|$tt" >>"$rows"
	echo "$corpus|cpu (s)|${a[1]}|${b[1]}|-" >>"$rows"
	[ "${a[2]}" != 0 ] && echo "$corpus|size (B)|${a[2]}|${b[2]}|$ts" >>"$rows"
	echo "$corpus|rss (KiB)|${a[3]}|${b[3]}|$tr" >>"$rows"
}

# pair KEY ARGS-MKSQUASHFS -- ARGS-MKPORTABLE: both tools on one source,
# interleaved for BENCH_ROUNDS rounds.
pair() {
	local key=$1 src=$2
	shift 2
	local theirs=() oursargs=()
	while [ "$1" != -- ]; do theirs+=("$1"); shift; done
	shift
	oursargs=("$@")
	for _ in $(seq "$rounds"); do
		measure "$key.theirs" "$work/$key.theirs.sqfs" mksquashfs "$src" "$work/$key.theirs.sqfs" -noappend -all-root -no-progress -quiet -processors "$jobs" -b 1M "${theirs[@]}"
		measure "$key.ours" "$work/$key.ours.sqfs" "$ours" squash "$src" "$work/$key.ours.sqfs" --quiet --jobs "$jobs" "${oursargs[@]}"
	done
}

# reader KEY LABEL IMAGE: squashfs.Reader reading every file of IMAGE
# (scripts/readall.go) against `unsquashfs -d` extracting it, interleaved.
# Extracting to disk costs unsquashfs what the file system makes it cost
# (1.6 to 12 s for GOROOT here, as the page cache goes), so where /dev/shm
# is a tmpfs it also extracts there, which leaves mostly its decoding: a
# second row, the stricter comparison.
reader() {
	local key=$1 label=$2 image=$3
	for _ in $(seq "$rounds"); do
		rm -rf "$work/extract"
		measure "$key.unsquashfs" "" unsquashfs -d "$work/extract" -no-progress -processors "$jobs" "$image"
		rm -rf "$work/extract"
		if [ -n "$shm" ]; then
			measure "$key.shm" "" unsquashfs -d "$shm/x" -no-progress -processors "$jobs" "$image"
			rm -rf "$shm/x"
		fi
		measure "$key.readall" "" "$readall" "$image"
	done
	row "$label (vs unsquashfs -d)" "$key.unsquashfs" "$key.readall" 1.00 - -
	if [ -n "$shm" ]; then
		row "$label (vs -d on tmpfs)" "$key.shm" "$key.readall" 1.00 - -
	fi
}

echo "bench: $mode run, $jobs workers, $rounds round(s), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

if want goroot; then
	src=$(go env GOROOT)
	pair goroot "$src" -comp xz -- --compression xz
	measure goroot.bcj "$work/goroot.bcj.sqfs" mksquashfs "$src" "$work/goroot.bcj.sqfs" -noappend -all-root -no-progress -quiet -processors "$jobs" -b 1M -comp xz -Xbcj x86
	row "GOROOT xz" goroot.theirs goroot.ours 0.80 1.00 -
	row "GOROOT xz vs -Xbcj x86" goroot.bcj goroot.ours - 1.00 -
	reader goroot.read "GOROOT read" "$work/goroot.ours.sqfs"
fi

if want zstd; then
	src=$(go env GOROOT)
	pair zstd15 "$src" -comp zstd -Xcompression-level 15 -- --compression zstd
	pair zstd19 "$src" -comp zstd -Xcompression-level 19 -- --compression zstd:19
	row "GOROOT zstd vs level 15" zstd15.theirs zstd15.ours 1.00 1.00 -
	row "GOROOT zstd:19 vs level 19" zstd19.theirs zstd19.ours - 1.00 -
fi

if want small; then
	[ -d "$cache/small-1e5" ] || { go run scripts/gentree.go "$cache/small-1e5.tmp" 100000 && mv "$cache/small-1e5.tmp" "$cache/small-1e5"; }
	pair small "$cache/small-1e5" -comp xz -- --compression xz
	row "10^5 small files" small.theirs small.ours 1.00 - 1.00
fi

if want small1m; then
	[ -d "$cache/small-1e6" ] || { go run scripts/gentree.go "$cache/small-1e6.tmp" 1000000 && mv "$cache/small-1e6.tmp" "$cache/small-1e6"; }
	pair small1m "$cache/small-1e6" -comp xz -- --compression xz
	row "10^6 small files" small1m.theirs small1m.ours - - 300MB
fi

if want random; then
	mkdir -p "$cache/random"
	[ -s "$cache/random/random.bin" ] || head -c 256M /dev/urandom >"$cache/random/random.bin"
	pair random "$cache/random" -comp xz -- --compression xz
	row "256 MiB random" random.theirs random.ours - 1.00 -
fi

if want sparse; then
	mkdir -p "$cache/sparse"
	if [ ! -s "$cache/sparse/disk.img" ]; then
		truncate -s 8G "$cache/sparse/disk.img"
		for at in 0 1000 5000 8000; do
			head -c 4M "$(go env GOROOT)/bin/go" | dd of="$cache/sparse/disk.img" bs=1M seek="$at" conv=notrunc status=none
		done
	fi
	pair sparse "$cache/sparse" -comp xz -- --compression xz
	row "8 GiB sparse file" sparse.theirs sparse.ours - 1.00 -
fi

if want cache; then
	# A cold build of a copy of GOROOT with an empty cache; then one file of
	# 1 MB and about 5% of the files change, and the rebuild with the cache
	# must take at most 10% of the cold build's time and give the bytes of a
	# cold build of the changed tree.
	tree=$work/cache-tree
	cp -a "$(go env GOROOT)" "$tree"
	measure cache.cold "$work/cache.cold.sqfs" "$ours" squash "$tree" "$work/cache.cold.sqfs" --quiet --jobs "$jobs" --cache "$work/blocks"
	big=$(find "$tree" -type f -size +1000k -size -2000k | sort | head -1)
	printf 'changed' | dd of="$big" bs=1 seek=100000 conv=notrunc status=none
	total=$(find "$tree" -type f | wc -l)
	find "$tree/src" -type f | sort | awk -v n="$total" 'NR <= n / 20' | while read -r f; do echo "// changed" >>"$f"; done
	measure cache.warm "$work/cache.warm.sqfs" "$ours" squash "$tree" "$work/cache.warm.sqfs" --quiet --jobs "$jobs" --cache "$work/blocks"
	measure cache.check "$work/cache.check.sqfs" "$ours" squash "$tree" "$work/cache.check.sqfs" --quiet --jobs "$jobs"
	same=no
	[ "$(sha256sum <"$work/cache.warm.sqfs")" = "$(sha256sum <"$work/cache.check.sqfs")" ] && same=yes
	read -r -a c <"$work/cache.cold"
	read -r -a h <"$work/cache.warm"
	echo "rebuild with --cache (vs cold)|time (s)|${c[0]}|${h[0]}|0.10" >>"$rows"
	echo "rebuild with --cache (vs cold)|same bytes as cold|-|$same|yes" >>"$rows"
	rm -rf "$tree"
fi

if want debian; then
	if [ ! -d "$cache/debian" ]; then
		mmdebstrap --mode=root --variant=standard --include=python3,nginx,postgresql bookworm "$cache/debian.tmp" >"$work/mmdebstrap.log" 2>&1 ||
			{ tail "$work/mmdebstrap.log" >&2; exit 1; }
		mv "$cache/debian.tmp" "$cache/debian"
	fi
	pair debian "$cache/debian" -comp xz -- --compression xz --keep-owners
	measure debian.bcj "$work/debian.bcj.sqfs" mksquashfs "$cache/debian" "$work/debian.bcj.sqfs" -noappend -all-root -no-progress -quiet -processors "$jobs" -b 1M -comp xz -Xbcj x86
	row "Debian root xz" debian.theirs debian.ours 0.80 1.00 -
	row "Debian root vs -Xbcj x86" debian.bcj debian.ours - 1.00 -
	reader debian.read "Debian read" "$work/debian.ours.sqfs"
fi

if want npm; then
	if [ ! -d "$cache/npm" ]; then
		mkdir -p "$cache/npm.tmp"
		(cd "$cache/npm.tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund --ignore-scripts typescript eslint webpack @babel/core jest react next >/dev/null)
		mv "$cache/npm.tmp" "$cache/npm"
	fi
	pair npm "$cache/npm" -comp xz -- --compression xz
	measure npm.bcj "$work/npm.bcj.sqfs" mksquashfs "$cache/npm" "$work/npm.bcj.sqfs" -noappend -all-root -no-progress -quiet -processors "$jobs" -b 1M -comp xz -Xbcj x86
	row "npm tree xz" npm.theirs npm.ours 0.80 1.00 -
	row "npm tree vs -Xbcj x86" npm.bcj npm.ours - 1.00 -
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F'|' '
function ratio(a, b) { return (a + 0 > 0) ? sprintf("%.3fx", b / a) : "-" }
BEGIN {
	printf "%-32s %-18s %14s %14s %9s %9s %s\n", "corpus", "measure", "theirs", "ours", "ratio", "target", ""
}
{
	r = ratio($3, $4); verdict = ""
	if ($5 ~ /^[0-9.]+$/ && r != "-") verdict = (($4 / $3) <= $5) ? "meets" : "MISSES"
	if ($5 == "yes") { r = $4; verdict = ($4 == "yes") ? "meets" : "MISSES" }
	if ($5 ~ /MB$/) { r = sprintf("%d MB", $4 / 1024); verdict = ($4 / 1024 <= $5 + 0) ? "meets" : "MISSES" }
	target = ($5 == "-") ? "" : ($5 ~ /^[0-9.]+$/ || $5 ~ /MB$/ ? "<= " $5 ($5 ~ /MB$/ ? "" : "x") : $5)
	printf "%-32s %-18s %14s %14s %9s %9s %s\n", $1, $2, $3, $4, r, target, verdict
}' "$rows"
