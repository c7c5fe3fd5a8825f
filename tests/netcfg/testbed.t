#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# tools/testbed itself: `run` builds a cluster, gives the command its
# state directory and removes everything afterwards, also when the command
# fails or a node command is still running; bad invocations exit 2 or 1
# without leaving anything behind.
. "$(dirname "$0")/../tap/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root for network namespaces"
TESTBED_SH=$MIG_ROOT/tools/testbed
trap 'exit 143' TERM INT HUP PIPE
plan 15

# No ping here: a TCP connect to a closed port that is refused (a reset
# came back) shows the address answers.
probe='. "$TESTBED/env"; echo "$TESTBED $PREFIX";
       ip netns list | grep -c "^$PREFIX-";
       reach() { ip netns exec "$PREFIX-node2" timeout 2 bash -c \
                 "echo >/dev/tcp/$1/9" 2>&1 | grep -q refused && echo "$2"; }
       reach 10.11.0.1 mig1-ok; reach 192.0.2.254 gw-ok;
       '"$TESTBED_SH"' start node1 sleeper sleep 300;
       echo "sleeper=$(cat "$TESTBED/node1.sleeper.pid")";
       '"$TESTBED_SH"' start-all who sh -c "echo @NODE@ \$TESTBED_NODE";
       sleep 0.3; cat "$TESTBED/node2.who.log";
       '"$TESTBED_SH"' exec node1 ip -br addr show mig1'
run "$TESTBED_SH" run -n 2 -- bash -c "$probe"
is 0 "$rc" "run exits with the command's status"
set -- $out
dir=$1 prefix=$2
is 3 "$3" "hub and two node namespaces"
like "mig1-ok" "$out" "nodes reach each other on mig1"
like "gw-ok" "$out" "the gateway answers on pub"
like "UP             10.11.0.1/24" "$out" \
    "exec runs in the node's namespace"
is 0 "$(ip netns list | grep -c "^$prefix-")" "no namespace left after run"
[ ! -e "$dir" ]
ok $? "state directory removed"
like "node2 node2" "$out" "start-all runs on each node with @NODE@ and TESTBED_NODE"
# The started command by its pid, not by its name: any other "sleep 300"
# on the machine is not this test's business.  Given 5 s (it would live
# 300); a pid reused meanwhile runs something else.
sleeper=$(sed -n 's/^sleeper=\([0-9][0-9]*\)$/\1/p' <<<"$out")
alive() {
    [ "$(tr '\0' ' ' 2>/dev/null </proc/"$sleeper"/cmdline)" = "sleep 300 " ]
}
for _ in $(seq 50); do
    alive || break
    sleep 0.1
done
ok "$([ -n "$sleeper" ] && ! alive; echo $?)" "the started node command was stopped"
alive && diag "$(ps -o pid,ppid,pgid,sid,etimes,stat,args -p "$sleeper")"

run "$TESTBED_SH" run -n 2 -- bash -c '. "$TESTBED/env"; echo $PREFIX; exit 3'
is 3 "$rc" "a failing command's status is passed on"
is 0 "$(ip netns list | grep -c "^$out-")" "and everything is removed"

run "$TESTBED_SH" up -n 1
is 1 "$rc" "a one-node cluster is refused"
like "-n must be 2..50" "$err" "with the reason"
run "$TESTBED_SH" frob
is 2 "$rc" "unknown subcommand exits 2"
run env TESTBED= "$TESTBED_SH" exec node1 true
like "no testbed" "$err" "exec without a testbed says so"
