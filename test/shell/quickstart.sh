#!/usr/bin/env bash
# Drives the README quickstart the way a Kafka user would: a real bin/strata on a free port
# with a temporary data dir, the topic created with `strata topic create`, records produced
# and consumed with kcat (librdkafka) and with the strata CLI, metadata listed with kcat -L.
# Every check compares exact output. The broker is stopped with SIGTERM (graceful shutdown
# must exit 0), restarted on the same data dir, and the records must all still be there.
#
#   STRATA_BIN=path/to/strata test/shell/quickstart.sh     (default: <repo>/bin/strata)
#   STRATA_KEEP=1 keeps the temp dir for inspection.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
STRATA=${STRATA_BIN:-$here/../../bin/strata}
command -v kcat >/dev/null || { echo "quickstart: kcat not found (apt-get install kcat)" >&2; exit 2; }
[ -x "$STRATA" ] || { echo "quickstart: $STRATA not built (make build)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-quickstart.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ "${STRATA_KEEP:-}" = 1 ]; then echo "quickstart: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

fail() {
	echo "quickstart: FAIL: $*" >&2
	echo "--- broker log (last 40 lines) ---" >&2
	tail -n 40 "$work"/strata*.log >&2 2>/dev/null || true
	exit 1
}

trap 'fail "command at line $LINENO exited with status $?"' ERR

# expect NAME EXPECTED ACTUAL: exact comparison with a diff on mismatch.
expect() {
	if [ "$2" != "$3" ]; then
		diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") >&2 || true
		fail "$1: output differs (< expected, > actual)"
	fi
}

# Every client call is bounded, so a misbehaving broker fails the test instead of hanging it.
kc() { timeout 30 kcat "$@"; }
st() { timeout 60 "$STRATA" "$@"; }

start_broker() { # $1: log file
	"$STRATA" serve --listeners PLAINTEXT://127.0.0.1:0 --log-dirs "$work/data" >"$1" 2>&1 &
	pid=$!
	addr=""
	for _ in $(seq 1 200); do
		addr=$(sed -n 's/.*msg=listening addr=\([0-9.]*:[0-9]*\).*/\1/p' "$1" | sed -n 1p)
		[ -n "$addr" ] && break
		kill -0 "$pid" 2>/dev/null || fail "broker exited during start"
		sleep 0.1
	done
	[ -n "$addr" ] || fail "broker did not log its address within 20s"
}

stop_broker() {
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=""
	[ "$rc" = 0 ] || fail "broker exited with status $rc after SIGTERM"
	grep -q 'msg="strata stopped"' "$1" || fail "no 'strata stopped' in $1"
}

start_broker "$work/strata.log"
echo "quickstart: broker at $addr"

# 1. Create the topic.
out=$(st topic create orders --partitions 3 --brokers "$addr")
expect "topic create" 'created topic "orders" with 3 partitions' "$out"
out=$(st topic list --brokers "$addr")
expect "topic list" "orders" "$out"

# Issue 14: a second broker on the same data dir refuses to start, in one line naming the
# holder's pid; a client command without a broker ends in one line within its --timeout.
rc=0
second=$("$STRATA" serve --listeners PLAINTEXT://127.0.0.1:0 --log-dirs "$work/data" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "second broker on the data dir: exit status $rc: $second"
expect "second broker on the data dir" \
	"strata: data directory in use: \"$work/data\" is locked by another strata process (pid $pid); stop it first or use another log.dirs" \
	"$second"
dead=1 # tcpmux: nothing listens there
rc=0
out=$(echo x | st produce orders --brokers "127.0.0.1:$dead" --timeout 5s 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "produce without a broker: exit status $rc: $out"
expect "produce without a broker" \
	"strata: cannot produce to orders: cannot reach a broker at 127.0.0.1:$dead: connection refused (is strata serve running? see --brokers / \$STRATA_BROKERS)" \
	"$out"

# 2. Produce keyed lines with kcat.
printf '%s\n' alice:order-1 bob:order-2 carol:order-3 alice:order-4 bob:order-5 |
	kc -P -b "$addr" -t orders -K:

# 3. Consume everything from the beginning (sorted: partitions interleave).
out=$(kc -C -b "$addr" -t orders -o beginning -e -q -f '%k %s\n' | sort)
expect "kcat consume" "$(printf '%s\n' 'alice order-1' 'alice order-4' 'bob order-2' 'bob order-5' 'carol order-3')" "$out"

# Per partition the order is deterministic: a key's records sit in one partition, in order.
for p in 0 1 2; do
	kc -C -b "$addr" -t orders -p "$p" -o beginning -e -q -f '%k %s %o\n' >"$work/p$p.txt"
done
out=$(cat "$work"/p0.txt "$work"/p1.txt "$work"/p2.txt | grep '^alice ' | cut -d' ' -f1,2)
expect "alice per-partition order" "$(printf '%s\n' 'alice order-1' 'alice order-4')" "$out"
out=$(cat "$work"/p0.txt "$work"/p1.txt "$work"/p2.txt | grep '^bob ' | cut -d' ' -f1,2)
expect "bob per-partition order" "$(printf '%s\n' 'bob order-2' 'bob order-5')" "$out"
for p in 0 1 2; do # offsets within each partition count 0, 1, ...
	out=$(cut -d' ' -f3 "$work/p$p.txt" | tr '\n' ' ')
	want=$(awk '{printf "%d ", NR-1}' "$work/p$p.txt")
	expect "partition $p offsets" "$want" "$out"
done

# 4. Metadata as kcat -L shows it.
meta=$(kc -L -b "$addr" -t orders)
grep -Fxq ' 1 brokers:' <<<"$meta" || fail "kcat -L: broker count: $meta"
grep -Fxq '  topic "orders" with 3 partitions:' <<<"$meta" || fail "kcat -L: topic line: $meta"
for p in 0 1 2; do
	grep -Fxq "    partition $p, leader 0, replicas: 0, isrs: 0" <<<"$meta" || fail "kcat -L: partition $p: $meta"
done

# 5. The strata CLI: produce, consume, describe.
printf '%s\n' dave:order-6 erin:order-7 |
	st produce orders --key-separator : --brokers "$addr" -q
all_sorted="$(printf '%s\n' 'alice order-1' 'alice order-4' 'bob order-2' 'bob order-5' 'carol order-3' 'dave order-6' 'erin order-7')"
out=$(st consume orders --from-beginning -e --format '%k %v\n' --brokers "$addr" | sort)
expect "strata consume" "$all_sorted" "$out"
out=$(kc -C -b "$addr" -t orders -o beginning -e -q -f '%k %s\n' | sort)
expect "kcat reads strata-produced records" "$all_sorted" "$out"
out=$(st consume orders --from-beginning -n 3 --brokers "$addr" | wc -l)
expect "strata consume -n 3" "3" "$(echo $out)"
hw=$(st topic describe orders --brokers "$addr" | sed -n 's/.*HighWatermark: \([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')
expect "sum of high watermarks" "7" "$hw"

# 6. Graceful stop, restart on the same data dir: everything is still there.
stop_broker "$work/strata.log"
start_broker "$work/strata2.log"
out=$(kc -C -b "$addr" -t orders -o beginning -e -q -f '%k %s\n' | sort)
expect "records after restart" "$all_sorted" "$out"
# sed reads all of its input: `head -n 1` would exit early and, under pipefail, a strata
# still writing would fail the pipeline with SIGPIPE (status 141).
out=$(st topic describe orders --brokers "$addr" | sed -n 1p | grep -o 'PartitionCount: [0-9]*')
expect "partitions after restart" "PartitionCount: 3" "$out"
stop_broker "$work/strata2.log"

echo "quickstart: PASS"
