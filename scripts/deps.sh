#!/usr/bin/env bash
# Makes sure the programs of scripts/deps.txt (or of the lists given as
# arguments, such as scripts/deps-bench.txt) are installed. As root on
# Debian it installs the missing packages with apt-get; otherwise it prints
# the command that would and fails, unless MKPORTABLE_SKIP_TOOLS=1, with
# which the tests that need a missing program skip instead of failing.
# `make test`, `make nix-check` and .ci/run call it first.
set -euo pipefail
cd "$(dirname "$0")/.."
lists=("$@")
[ ${#lists[@]} -gt 0 ] || lists=(scripts/deps.txt)

# Programs in sbin are found for a user whose PATH lacks it too.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

missing() {
	local pkg tools tool
	while read -r pkg tools; do
		pkg=${pkg%:}
		for tool in $tools; do
			if ! type -P "$tool" >/dev/null; then
				echo "$pkg"
				break
			fi
		done
	done < <(cat "${lists[@]}" | grep -v -e '^#' -e '^[[:space:]]*$')
}

mapfile -t need < <(missing)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	mapfile -t still < <(missing)
	if [ ${#still[@]} -gt 0 ]; then
		echo "deps: apt-get installed ${need[*]} but these still lack a program of ${lists[*]}: ${still[*]}" >&2
		exit 1
	fi
	exit 0
fi
echo "deps: missing packages: ${need[*]}" >&2
echo "deps: install them as root with:  apt-get install -y --no-install-recommends ${need[*]}" >&2
echo "deps: (or run the same make command as root, which installs them)" >&2
if [ "${MKPORTABLE_SKIP_TOOLS:-}" = 1 ]; then
	echo "deps: MKPORTABLE_SKIP_TOOLS=1: the tests that need them will be skipped" >&2
	exit 0
fi
exit 1
