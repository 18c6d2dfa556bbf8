#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The web UI (issue 15) in Debian's headless Chromium, driven by selenium
# (mgmt_ui.py): lepus-control with --http on a free loopback port and the
# dataplane in the test's namespaces; a queue declared over AMQP from the
# client namespace is seen in the UI, objects made through the UI's forms
# are checked through the API. Screenshots go to
# BUILD/meson-logs/mgmt_ui/ (IT_SHOTS to change it), kept after the test.
. "$(dirname "$0")/lib.sh" "$1"
it_require_lepus

for p in /usr/bin/chromium /usr/bin/chromedriver; do
	[ -x "$p" ] || it_fail "$p missing (scripts/setup installs chromium and chromium-driver)"
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null || it_fail "python3-selenium missing (scripts/setup)"

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export IT_CONTROL_OPTS="--http 127.0.0.1:$port"
url=http://127.0.0.1:$port
shots=${IT_SHOTS:-$IT_BUILD/meson-logs/mgmt_ui}
rm -rf "$shots"
mkdir -p "$shots"
it_start_broker

up=0
for _ in $(seq 1 100); do
	if curl -sf -o /dev/null -u guest:guest "$url/api/overview"; then
		up=1
		break
	fi
	sleep 0.1
done
[ $up = 1 ] || it_fail "the management API did not answer on $url"

# The UI's files are served without credentials, with their content types.
ctype=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$url/")
[ "$ctype" = "200 text/html; charset=utf-8" ] || it_fail "GET / answered '$ctype'"
ctype=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$url/ui/ui.js")
[ "$ctype" = "200 text/javascript; charset=utf-8" ] || it_fail "GET /ui/ui.js answered '$ctype'"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/ui/missing.js")
[ "$code" = 404 ] || it_fail "GET /ui/missing.js answered $code"
it_log "UI files served on $url/"

timeout 300 /usr/bin/python3 "$IT_TOP/tests/integration/mgmt_ui.py" --url "$url" --shots "$shots" \
	--amqp-host "$IT_DP_IP" --amqp-prefix "ip netns exec $IT_NS_CL" >"$IT_DIR/mgmt_ui.out" 2>&1 || {
	grep -v '^ok' "$IT_DIR/mgmt_ui.out" | tail -n 40
	it_fail "mgmt_ui.py: $(tail -n 1 "$IT_DIR/mgmt_ui.out")"
}
it_log "mgmt_ui.py: $(grep -c '^ok' "$IT_DIR/mgmt_ui.out") checks passed; screenshots in $shots"
it_log "PASS"
