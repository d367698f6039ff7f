#!/bin/bash
# Runs inside the guest after the corpus (guest-test.sh calls it), from the
# data disk at /e2e: issue 11's cases. ext/cases lists one case a line:
#
#   ID MODE FILE [ARG...]
#
#   portable  FILE UNIT [cert=CRT] [ext=EXT]... [profile=P] [debug]
#             portablectl attach --no-reload [--profile P] [--extension EXT]... ./FILE,
#             then start UNIT, with CRT copied to /etc/verity.d first
#   sysext    FILE PATH     copy FILE (and its sidecars) to /var/lib/extensions,
#                           systemd-sysext merge, look for PATH under /usr
#   confext   FILE PATH     the same with /var/lib/confexts and systemd-confext
#
# and prints, beside guest-test.sh's markers:
#
#   E2E-XKEY KEY                      the hash of ext/ on the data disk
#   E2E-XROW ID active|refused|fails MESSAGE
#   E2E-XINFO ID KEY TEXT             what was seen: dm tables, journal lines
set -u
cd /e2e/ext || exit 0
echo "E2E-XKEY $(cat key)"

xinfo() { # ID KEY: each line of stdin as E2E-XINFO
	local id=$1 key=$2 line
	while IFS= read -r line; do
		[ -n "$line" ] && echo "E2E-XINFO $id $key $line"
	done
}

# dm_verity prints the verity targets device-mapper has now.
dm_verity() { dmsetup table 2>/dev/null | grep ' verity ' || true; }

# journal_since CURSOR: the journal since CURSOR, lines about verity,
# signatures and I/O errors (the kernel's too).
journal_since() {
	journalctl --no-pager -q -o cat --after-cursor="$1" 2>/dev/null |
		grep -vE 'Sent message|Got message|modprobe@|system call|Failed to load configuration|enqueue job|new job|Activating via systemd' |
		grep -iE 'verity|pkcs#7|required key|corrupt|input/output|root hash|extension|refusing|namespac|overlay|failed' | head -40
}

cursor_now() { journalctl -n 0 --show-cursor -q 2>/dev/null | sed -n 's/^-- cursor: //p'; }

run_portable() {
	local id=$1 file=$2 unit=$3
	shift 3
	local cert="" debug=no exts=() profile=() a
	for a in "$@"; do
		case $a in
		cert=*) cert=${a#cert=} ;;
		ext=*) exts+=("--extension=/e2e/ext/${a#ext=}") ;;
		profile=*) profile=("--profile=${a#profile=}") ;;
		debug) debug=yes ;;
		esac
	done
	rm -rf /etc/verity.d
	if [ -n "$cert" ]; then
		mkdir -p /etc/verity.d
		cp "$cert" /etc/verity.d/mkportable-test.crt
	fi
	local cursor out rc
	cursor=$(cursor_now)
	out=$(portablectl attach --no-reload "${profile[@]}" "${exts[@]}" "/e2e/ext/$file" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/    | /'
	if [ $rc -ne 0 ]; then
		echo "E2E-XROW $id refused $(printf '%s' "$out" | grep -iE 'refus|fail|error|match' | tail -1)"
		journal_since "$cursor" | xinfo "$id" journal
		return
	fi
	systemctl daemon-reload
	cat "/etc/systemd/system.attached/$unit.d/20-portable.conf" 2>/dev/null | grep -E '^(RootImage|RootHash|Extension|BindReadOnlyPaths)' | xinfo "$id" dropin
	[ $debug = yes ] && systemctl log-level debug
	systemctl start "$unit" 2>&1 | sed 's/^/    | /'
	for _ in $(seq 40); do
		case $(systemctl show -p ActiveState --value "$unit") in
		activating | deactivating) sleep 0.5 ;;
		*) break ;;
		esac
	done
	# The units are Type=exec: start returns once the program runs, or
	# failed to (verity is set up before). Then a service that reads its
	# files and fails has the time to.
	sleep 2
	[ $debug = yes ] && systemctl log-level info
	local state
	state=$(systemctl show -p ActiveState,Result,ExecMainStatus "$unit" | tr '\n' ' ')
	echo "E2E-XINFO $id unit $state"
	dm_verity | xinfo "$id" dm
	journal_since "$cursor" | xinfo "$id" journal
	journalctl --no-pager -q -o cat --after-cursor="$cursor" -u "$unit" 2>/dev/null |
		grep -vE "^$unit:|system call|Sent message|Got message|^(Starting|Started|Stopping|Stopped|Deactivated|Consumed|Failed to)" | head -5 | xinfo "$id" stdout
	# What the service sees: its mount table (overlays, verity devices).
	local pid
	pid=$(systemctl show -p MainPID --value "$unit")
	if [ -n "$pid" ] && [ "$pid" != 0 ]; then
		awk '$5 == "/" || $5 == "/usr" || $5 == "/opt" || $5 == "/etc" { m = $5; for (i = 7; $i != "-"; i++); print m, $(i+1), $(i+3) }' \
			"/proc/$pid/mountinfo" | xinfo "$id" mount
	fi
	if [ "$(systemctl show -p ActiveState --value "$unit")" = active ]; then
		echo "E2E-XROW $id active"
	else
		echo "E2E-XROW $id fails $state"
	fi
	systemctl stop "$unit" 2>&1 | sed 's/^/    | /'
	portablectl detach --no-reload "${exts[@]}" "/e2e/ext/$file" 2>&1 | sed 's/^/    | /'
	systemctl daemon-reload
	systemctl reset-failed
	rm -rf /etc/verity.d
	sleep 1
	dm_verity | xinfo "$id" dm-after-detach
}

run_extension() {
	local id=$1 mode=$2 file=$3 want=$4 dir tool base side
	case $mode in
	sysext) dir=/var/lib/extensions tool=systemd-sysext ;;
	confext) dir=/var/lib/confexts tool=systemd-confext ;;
	esac
	if ! command -v "$tool" >/dev/null; then
		echo "E2E-XROW $id refused $tool: command not found"
		return
	fi
	mkdir -p "$dir"
	cp "/e2e/ext/$file" "$dir/"
	base=${file%.raw}
	for side in "$base.verity" "$base.roothash" "$base.roothash.p7s"; do
		[ -f "/e2e/ext/$side" ] && cp "/e2e/ext/$side" "$dir/"
	done
	local cursor out rc
	cursor=$(cursor_now)
	out=$("$tool" merge 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/    | /'
	printf '%s\n' "$out" | xinfo "$id" merge
	echo "E2E-XINFO $id merge-rc $rc"
	dm_verity | xinfo "$id" dm
	journal_since "$cursor" | xinfo "$id" journal
	if [ $rc -eq 0 ] && [ -f "$want" ]; then
		echo "E2E-XINFO $id content $(head -c 200 "$want")"
		echo "E2E-XROW $id active"
	else
		echo "E2E-XROW $id refused rc=$rc $(printf '%s' "$out" | tail -1)"
	fi
	"$tool" unmerge 2>&1 | sed 's/^/    | /'
	rm -f "$dir/$base".*
}

while read -r id mode file rest; do
	[ -z "$id" ] && continue
	echo "E2E-STEP ext $id: $mode $file $rest"
	case $mode in
	portable)
		# shellcheck disable=SC2086 # rest is a list of words
		run_portable "$id" "$file" $rest
		;;
	sysext | confext) run_extension "$id" "$mode" "$file" "$rest" ;;
	esac
done <cases
echo "E2E-STEP ext done"
