#!/bin/bash
# Runs inside the guest, from the data disk mounted at /e2e. It prints
# markers to the serial console, which the host parses:
#
#   E2E-BEGIN systemd N (VERSION)          first line
#   E2E-CORPUS KEY                         the hash of the corpus on the data disk
#   E2E-PROFILE NAME LINE                  each line of each portable profile
#   E2E-RESULT STEP PASS|FAIL DETAIL       the example's attach/upgrade/detach, the Nix-built one's
#   E2E-ATTACH ROW rc=N UNITS              a corpus image's attach and the units it attached
#   E2E-UNIT ROW UNIT Key=Value...         a started unit's state once settled
#   E2E-JOURNAL ROW UNIT LINE              the first error the journal has for it
#   E2E-ROW ROW active|refused|fails MSG   the outcome class of a corpus row
#   E2E-DONE                               last line
#
# Everything else (portablectl's own output, indented) is for people.
set -u
cd /e2e

# step marks the start of a step; result reports it with its duration in
# guest seconds.
step() {
	step_start=$(date +%s.%N)
	echo "E2E-STEP $1"
}
result() {
	echo "E2E-RESULT $1 $2 ($(awk -v a="$step_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s) ${3:-}"
}
indent() { sed 's/^/    | /'; }
oneline() { tr '\n' ' ' | sed 's/[[:space:]]\+/ /g; s/^ //; s/ $//'; }

# ask polls the example service until it answers, for up to 30 s.
ask() {
	for _ in $(seq 60); do
		if answer=$(curl -sf http://localhost:3031/); then
			echo "$answer"
			return 0
		fi
		sleep 0.5
	done
	return 1
}

echo "E2E-BEGIN $(systemctl --version | head -1)"
echo "E2E-CORPUS $(cat corpus.key)"
for f in /usr/lib/systemd/portable/profile/*/service.conf; do
	p=$(basename "$(dirname "$f")")
	while IFS= read -r line; do echo "E2E-PROFILE $p $line"; done <"$f"
done

# A daemon-reload runs every generator; none matters to portable services,
# and under software emulation they double the time of each reload.
mkdir -p /run/systemd/system-generators
for g in /usr/lib/systemd/system-generators/*; do
	ln -sf /dev/null "/run/systemd/system-generators/$(basename "$g")"
done
udevadm settle --timeout=30

# The example of our reference article: attach, upgrade, detach.
step attach
portablectl attach --now ./v1/web-server_20220227.raw 2>&1 | indent
state=$(systemctl is-active web-server.service)
answer=$(ask)
if [ "$state" = active ] && [ "$answer" = "PORTABLE=web-server_20220227.raw" ]; then
	result attach PASS "is-active=$state answer=$answer"
else
	result attach FAIL "is-active=$state answer=${answer:-none}"
	systemctl status --no-pager web-server.service 2>&1 | tail -20 | indent
fi

step reattach
portablectl reattach --now ./v2/web-server_20220227.raw 2>&1 | indent
state=$(systemctl is-active web-server.service)
answer=$(ask)
want=$(cat v2/answer)
if [ "$state" = active ] && [ "$answer" = "$want" ]; then
	result reattach PASS "is-active=$state answer=$answer"
else
	result reattach FAIL "is-active=$state answer=${answer:-none} want=$want"
fi

step detach
portablectl detach --now ./v2/web-server_20220227.raw 2>&1 | indent
if systemctl cat web-server.service >/dev/null 2>&1 || [ "$(systemctl is-active web-server.service)" = active ]; then
	result detach FAIL "web-server.service is still there"
else
	result detach PASS "web-server.service is gone"
fi

# The same example built by nix-build through lib.portableService (make
# nix-check): attached, asked and detached like the one above.
step nix
portablectl attach --now ./nix/web-server_20220227.raw 2>&1 | indent
state=$(systemctl is-active web-server.service)
answer=$(ask)
portablectl detach --now ./nix/web-server_20220227.raw 2>&1 | indent
if [ "$state" = active ] && [ "$answer" = "PORTABLE=web-server_20220227.raw" ] &&
	! systemctl cat web-server.service >/dev/null 2>&1; then
	result nix PASS "is-active=$state answer=$answer, detached"
else
	result nix FAIL "is-active=$state answer=${answer:-none}"
fi

# go-httpbin built by mkportable build with DynamicUser=yes and
# StateDirectory=, no directory added by hand (issue 9): it must answer.
step httpbin
portablectl attach --now ./httpbin/httpbin_2.26.0.raw 2>&1 | indent
answer=
for _ in $(seq 60); do
	if answer=$(curl -sf http://127.0.0.1:8080/get); then break; fi
	answer=
	sleep 0.5
done
state=$(systemctl is-active httpbin.service)
started=$(systemctl show -p ActiveEnterTimestamp --value httpbin.service)
portablectl detach --now ./httpbin/httpbin_2.26.0.raw 2>&1 | indent
if [ "$state" = active ] && [ -n "$answer" ]; then
	result httpbin PASS "is-active=$state since $started, GET /get answered $(echo "$answer" | oneline | cut -c1-80)"
else
	result httpbin FAIL "is-active=$state answer=${answer:-none}"
	journalctl --no-pager -u httpbin.service | tail -10 | indent
fi

# The differential corpus. Each corpus/NN-ROW/ holds one image and an
# `args` file setting file, profile, matches, probe and batch. The rows of
# one batch share no image file name, unit file name or probe URL, so they
# are attached side by side: `portablectl attach --no-reload` each (its
# exit status and message are the attach verdict), one daemon-reload, then
# the units each attach created are started as `attach --now` would start
# them, and judged once their jobs are done. Then the units are stopped and
# what attach created is removed (the example above checks detach), so the
# next batch starts from a clean host.
uptime_s() { cut -d' ' -f1 /proc/uptime; }
attached() {
	for d in /etc/systemd/system.attached /run/systemd/system.attached; do
		[ -d "$d" ] && ls -A "$d"
	done | grep -v '\.d$' | sort
}
is_template() { case $1 in *@.*) return 0 ;; esac; return 1; }

# settle waits until none of the units $@ has a job queued or is changing
# state, for up to 60 s.
settle() {
	local i busy
	[ $# -eq 0 ] && return 0
	for i in $(seq 120); do
		busy=$(systemctl list-jobs --no-legend "$@" 2>/dev/null)
		[ -z "$busy" ] && busy=$(systemctl show -p ActiveState "$@" | grep -E '=(activating|deactivating|reloading|refreshing)$')
		[ -z "$busy" ] && return 0
		sleep 0.5
	done
	echo "settle: still busy after 60 s: $busy" | indent
}

# ran_ok reports whether service $1 ran and exited successfully since the
# batch began: it is inactive with Result=success and either remembers
# leaving the inactive state, or was garbage-collected after it (nothing
# references it, so the manager forgot it and reloaded it fresh; a failed
# unit is never collected) and the journal has entries for it since the
# batch began (a unit never started has none).
ran_ok() {
	[ "${1%.service}" != "$1" ] && [ "${prop[$1 ActiveState]:-}" = inactive ] && [ "${prop[$1 Result]:-}" = success ] || return 1
	[ "${prop[$1 InactiveExitTimestampMonotonic]:-0}" != 0 ] && return 0
	[ -n "$(journalctl --no-pager -q -o cat --after-cursor="$cursor" -u "$1" 2>/dev/null | head -1)" ]
}

# judge prints the states of row $1's units (given after the probe URL $2)
# and the row's outcome class: active when every unit it started is active,
# or is a service that ran and exited successfully (ran_ok); fails
# otherwise, or
# when the probe URL does not answer. The units' properties are in prop,
# keyed "UNIT Property".
judge() {
	local id=$1 probe=$2 u line state bad="" msg="" probed=no
	shift 2
	for u in "$@"; do
		is_template "$u" && continue
		state="LoadState=${prop[$u LoadState]:-} ActiveState=${prop[$u ActiveState]:-} SubState=${prop[$u SubState]:-} Result=${prop[$u Result]:-} ExecMainCode=${prop[$u ExecMainCode]:-} ExecMainStatus=${prop[$u ExecMainStatus]:-}"
		echo "E2E-UNIT $id $u $state"
		if [ "${prop[$u LoadState]:-}" = loaded ] && { [ "${prop[$u ActiveState]:-}" = active ] || ran_ok "$u"; }; then
			continue
		fi
		line=$(journalctl --no-pager -q -o cat -p err --after-cursor="$cursor" -u "$u" 2>/dev/null | head -1)
		[ -n "$line" ] && echo "E2E-JOURNAL $id $u $line"
		if [ -z "$bad" ]; then
			bad=$u
			msg="$u: LoadState=${prop[$u LoadState]:-} Result=${prop[$u Result]:-} ExecMainStatus=${prop[$u ExecMainStatus]:-}${line:+; journal: $line}"
		fi
	done
	if [ -z "$bad" ] && [ -n "$probe" ]; then
		for _ in $(seq 20); do
			curl -sf --max-time 3 -o /dev/null "$probe" && { probed=yes; break; }
			sleep 0.5
		done
		if [ $probed = no ]; then
			bad=probe
			msg="units active but no answer from $probe"
		fi
	fi
	if [ -z "$bad" ]; then
		echo "E2E-ROW $id active"
	else
		echo "E2E-ROW $id fails $msg"
	fi
}

# load_props reads the properties of units $@ into prop. systemctl show
# prints one block per unit, blank-line separated, with Id anywhere in it.
declare -A prop
load_props() {
	local k v line
	local -a block=()
	prop=()
	[ $# -eq 0 ] && return 0
	flush() {
		local id="" l
		for l in "${block[@]}"; do
			[ "${l%%=*}" = Id ] && id=${l#*=}
		done
		if [ -n "$id" ]; then
			for l in "${block[@]}"; do
				prop[$id ${l%%=*}]=${l#*=}
			done
		fi
		block=()
	}
	while IFS= read -r line; do
		if [ -z "$line" ]; then flush; else block+=("$line"); fi
	done < <(systemctl show -p Id,LoadState,ActiveState,SubState,Result,ExecMainCode,ExecMainStatus,InactiveExitTimestampMonotonic "$@")
	flush
}

declare -A row_dir row_units
batches=$(cat corpus/*/args 2>/dev/null | sed -n 's/^batch=//p' | sort -n -u)
for b in $batches; do
	echo "E2E-STEP batch $b at $(uptime_s)s"
	cursor=$(journalctl -n 0 --show-cursor -q 2>/dev/null | sed -n 's/^-- cursor: //p')
	ids=()
	row_dir=()
	row_units=()
	for dir in corpus/*/; do
		unset file profile matches probe batch
		. "$dir/args"
		[ "$batch" = "$b" ] || continue
		id=$(basename "$dir")
		id=${id#*-}
		opts=()
		[ -n "$profile" ] && opts+=("--profile=$profile")
		before=$(attached)
		echo "E2E-STEP row $id: portablectl attach --no-reload ${opts[*]} ./$dir$file $matches"
		# shellcheck disable=SC2086 # matches is a list of words
		out=$(portablectl attach --no-reload "${opts[@]}" "./$dir$file" $matches 2>&1)
		rc=$?
		printf '%s\n' "$out" | indent
		units=$(comm -13 <(echo "$before") <(attached) | oneline)
		echo "E2E-ATTACH $id rc=$rc $units"
		if [ $rc -ne 0 ]; then
			msg=$(printf '%s\n' "$out" | grep -i 'refusing\|failed\|error' | tail -1)
			echo "E2E-ROW $id refused ${msg:-$(printf '%s' "$out" | oneline)}"
			continue
		fi
		row_dir[$id]=$dir
		row_units[$id]=$units
		ids+=("$id")
	done
	echo "E2E-STEP batch $b attached at $(uptime_s)s"
	systemctl daemon-reload
	all=()
	for id in "${ids[@]}"; do
		for u in ${row_units[$id]}; do
			is_template "$u" || all+=("$u")
		done
	done
	# One call starts them all (systemctl goes on past a unit it cannot
	# start); it is retried when the manager is too busy to answer in time.
	start_msg=""
	if [ ${#all[@]} -gt 0 ]; then
		for try in 1 2 3; do
			start_msg=$(systemctl start --no-block "${all[@]}" 2>&1) && break
			case $start_msg in *"timed out"*) sleep 2 ;; *) break ;; esac
		done
		printf '%s\n' "$start_msg" | indent
	fi
	settle "${all[@]}"
	sleep 1
	settle "${all[@]}"
	load_props "${all[@]}"
	echo "E2E-STEP batch $b started at $(uptime_s)s"
	for id in "${ids[@]}"; do
		unset probe
		. "${row_dir[$id]}/args"
		# shellcheck disable=SC2086
		judge "$id" "$probe" ${row_units[$id]}
	done
	# Stop everything, sockets' and templates' instances too, and remove
	# what attach created.
	stop=()
	for id in "${ids[@]}"; do
		for u in ${row_units[$id]}; do
			if is_template "$u"; then stop+=("${u/@./@*.}"); else stop+=("$u"); fi
		done
	done
	[ ${#stop[@]} -gt 0 ] && systemctl stop "${stop[@]}" 2>&1 | indent
	for d in /etc/systemd/system.attached /run/systemd/system.attached; do
		[ -d "$d" ] && find "$d" -mindepth 1 -delete
	done
	rm -f /etc/portables/* /run/portables/*
	systemctl daemon-reload
	systemctl reset-failed
	if [ ${#stop[@]} -gt 0 ]; then
		left=$(systemctl list-units --all --no-legend --plain "${stop[@]}" 2>/dev/null | oneline)
		[ -n "$left" ] && echo "E2E-LEFTOVER batch $b: $left"
	fi
	echo "E2E-STEP batch $b done at $(uptime_s)s"
done
# Issue 11's cases (verity, DDIs, extensions): scripts/e2e/ext-test.sh.
[ -f /e2e/ext/run.sh ] && bash /e2e/ext/run.sh
echo "E2E-DONE"
