#!/bin/bash
# Runs inside the guest, from the data disk mounted at /e2e: the flow of
# our reference article against a real systemd. Each step prints one
# "E2E-RESULT <step> PASS|FAIL <detail>" line to the serial console, which
# the host reads; portabled's own messages are printed beside them.
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

# ask polls the service until it answers, for up to 30 s.
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

step attach
portablectl attach --now ./v1/web-server_20220227.raw 2>&1
state=$(systemctl is-active web-server.service)
answer=$(ask)
if [ "$state" = active ] && [ "$answer" = "PORTABLE=web-server_20220227.raw" ]; then
	result attach PASS "is-active=$state answer=$answer"
else
	result attach FAIL "is-active=$state answer=${answer:-none}"
	systemctl status --no-pager web-server.service 2>&1 | tail -20
fi

step reattach
portablectl reattach --now ./v2/web-server_20220227.raw 2>&1
state=$(systemctl is-active web-server.service)
answer=$(ask)
want=$(cat v2/answer)
if [ "$state" = active ] && [ "$answer" = "$want" ]; then
	result reattach PASS "is-active=$state answer=$answer"
else
	result reattach FAIL "is-active=$state answer=${answer:-none} want=$want"
fi

step detach
portablectl detach --now ./v2/web-server_20220227.raw 2>&1
if systemctl cat web-server.service >/dev/null 2>&1 || [ "$(systemctl is-active web-server.service)" = active ]; then
	result detach FAIL "web-server.service is still there"
else
	result detach PASS "web-server.service is gone"
fi

# Images our inspect calls bad must be refused by portabled too.
for bad in bad/*/; do
	name=$(basename "$bad")
	step "refuse-$name"
	img=$(ls "$bad"*.raw)
	if msg=$(portablectl attach --now "./$img" 2>&1); then
		result "refuse-$name" FAIL "portablectl attached it: $msg"
		portablectl detach --now "./$img" >/dev/null 2>&1
	else
		result "refuse-$name" PASS "portabled: $(echo "$msg" | tr '\n' ' ')"
	fi
done
echo "E2E-DONE"
