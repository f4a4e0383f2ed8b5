# t-cgroup.sh - a render attempt's cgroup (wrapper/cgroup.h) holds all it starts:
# killed whole, CPU billed, pids and memory limited, leftovers cleared; no root, no use.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP cgroups need root"; exit 0; }
${CC:-cc} -std=c17 -Wall -Wextra -Werror -Wno-format-truncation -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -fstack-protector-strong -D_FORTIFY_SOURCE=2 -O1 -g \
	-o "$T/cgtest" "$HF_ROOT/tests/cgtest.c" "$HF_ROOT/wrapper/cgroup.c" "$HF_ROOT/wrapper/cgtree.c" \
	"$HF_ROOT/wrapper/cgfile.c" || { not_ok "tests/cgtest.c and wrapper/cg*.c build"; done_testing; }

# every group this test makes is beneath hotfarm-$H, removed at the end
# (CGTEST_V1=1: the same tree without v2, where the freezer kills)
H=cgt$$
at_exit "'$T/cgtest' drop $H >/dev/null 2>&1; CGTEST_V1=1 '$T/cgtest' drop $H >/dev/null 2>&1"
cg() { "$T/cgtest" "$@"; }
# the pids in group $1, as its first hierarchy lists them
procs_of() { cat "$(cg where $H | head -n 1)/$1/cgroup.procs"; }
# stat fields after the name: state ppid pgrp session
stat_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f "$2"; }
# dead PID...: gone, or a zombie its new parent has not reaped yet
dead() { for p; do [ ! -e "/proc/$p" ] || [ "$(stat_of "$p" 1)" = Z ] || return 1; done; }
no_group() { for d in $(cg where $H); do [ ! -e "$d/$1" ] || return 1; done; }
sleeps_in() {
	_s=0
	for p in $(procs_of "$1"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] && _s=$((_s + 1)); done
	[ "$_s" -ge "$2" ]
}
# PID... hid: more than one session among them, and more than one whose
# parent is not one of them (the agent's child is one; a daemon another)
hid() {
	_sids=$(for p; do stat_of "$p" 4; done | sort -u | wc -l)
	_orphans=0
	for p; do case " $* " in *" $(stat_of "$p" 2) "*) ;; *) _orphans=$((_orphans + 1)) ;; esac; done
	[ "$_sids" -ge 2 ] && [ "$_orphans" -ge 2 ]
}
# empty NAME: the group is empty; on v1 (no cgroup.kill) the agent kills
# again each time it looks, and so does this
emptied() { [ -z "${CGTEST_V1:-}" ] || cg kill $H "$1"; cg empty $H "$1"; }

said=$(cg open $H)
check "as root, cg_tree_open finds a cgroup tree to use" [ -n "$said" ]
diag "$said"

ESCAPE='setsid sh -c "sleep 300" </dev/null >/dev/null 2>&1 & (sleep 300 &) ; env -i sleep 300 & exec sleep 300'
# escape NAME WHAT: a render that hides its processes every way it can,
# then cg_attempt_kill
escape() {
	cg make $H "$1" 64 && cg spawn $H "$1" /bin/sh -c "$ESCAPE" >/dev/null
	check "$2: the four sleeps of a hiding render are in its group" wait_for 10 sleeps_in "$1" 4
	pids=$(procs_of "$1")
	check "$2: they left the process group and the parent (setsid, double fork)" hid $pids
	cg kill $H "$1"
	check "$2: the group is empty within 5 s of cg_attempt_kill" wait_for 5 emptied "$1"
	check "$2: every process of it is dead" dead $pids
	check "$2: cg_attempt_remove removes the group" cg remove $H "$1"
	check "$2: no folder of it is left in any hierarchy" no_group "$1"
}
escape e "v2 cgroup.kill"
export CGTEST_V1=1
escape e1 "v1 without v2 (freezer, then SIGKILL each pid)"
unset CGTEST_V1

# billed CPU: the render's child returns at once; the daemon it left
# burns 0.3 s of CPU on its own
billed() {
	[ "$(cg run $H "$1" /bin/sh -c "setsid '$T/cgtest' burn 0.3 </dev/null >/dev/null 2>&1 &")" = "exit 0" ] &&
		wait_for 20 cg empty $H "$1" &&
		cg usage $H "$1" | awk '{ print "# " $1 " s user, " $2 " s system"; exit !($1 + $2 >= 0.29) }'
}
cg make $H u && check "a daemonised child's 0.3 s of CPU is billed to its attempt (v2 cpu.stat)" billed u
cg remove $H u
export CGTEST_V1=1
cg make $H u1 && check "... and without v2 (v1 cpuacct)" billed u1
cg remove $H u1
unset CGTEST_V1

# pids.max
cg make $H p 8
out=$(cg run $H p "$T/cgtest" forks 50)
diag "$(echo $out)"
check "a fork loop in a group with pids.max 8 makes 7 children, not 50" [ "$(echo "$out" | head -n 1 | cut -d ' ' -f 2)" = 7 ]
check "the group never holds more than 8" [ "$(procs_of p | wc -l)" -le 8 ]
cg kill $H p
wait_for 5 cg empty $H p && cg remove $H p

# memory.max (memory.limit_in_bytes on v1)
if echo "$said" | grep -q memory; then
	cg make $H m 0 $((32 << 20))
	out=$(cg run $H m "$T/cgtest" hog 128)
	check "a process touching 128 MiB in a group of 32 MiB is killed ($out)" [ "$out" = "signal 9" ]
	check "cg_attempt_oom says it ran out of its memory" cg oom $H m
	peak=$(cg peak $H m)
	check "its peak is its limit ($peak KiB)" [ "$peak" -gt $((24 << 10)) -a "$peak" -le $((33 << 10)) ]
	cg remove $H m
	cg make $H m2 0 $((64 << 20))
	out=$(cg run $H m2 "$T/cgtest" hog 8)
	check "8 MiB in a group of 64 MiB lives ($(echo $out))" [ "$(echo $out)" = "survived 8 MiB exit 0" ]
	check "... and cg_attempt_oom does not say it ran out" sh -c "! '$T/cgtest' oom $H m2"
	cg remove $H m2
else
	ok "# SKIP no memory controller here"
fi

# what a killed agent left: a group with a process in it, nobody's handle
left() {
	cg make $H "$1" && pid=$(cg spawn $H "$1" /bin/sleep 300)
	check "$2: a leftover sleep runs in its group" [ "$(procs_of "$1")" = "$pid" ]
	out=$(cg clear $H)
	check "$2: cg_tree_clear says all is clear ($out)" [ "$out" = "0 left" ]
	check "$2: the leftover process is dead" dead $pid
	check "$2: its group is removed" no_group "$1"
}
left c "v2"
export CGTEST_V1=1
left c1 "v1"
unset CGTEST_V1

# without root: a refusal a person understands, whether the subtree is
# there already (made by root) or not
chmod 711 "$T"
says_not_root() { echo "$out" | grep -q 'not root (uid [0-9]*), and our v2 group .* is not delegated'; }
for host in $H n$H; do
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/cgtest" open $host 2>&1)
	rc=$?
	diag "$out"
	check "as nobody, cg_tree_open fails (exit $rc) for hotfarm-$host" [ $rc -eq 1 ]
	check "... saying it is not root and nothing is delegated" says_not_root
done
check "... and makes nothing" [ -z "$(find /sys/fs/cgroup -maxdepth 5 -name "hotfarm-n$H" 2>/dev/null)" ]

# a delegated v2 group (as systemd's Delegate=yes marks it): the agent
# moves into its leaf agent/ and makes the attempts beside it
V2=$(sed -n 's/^[^ ]* [^ ]* [^ ]* [^ ]* \([^ ]*\) .* - cgroup2 .*/\1/p' /proc/self/mountinfo | head -n 1)
D=$V2/hotfarm-delegated$$
if [ -n "$V2" ] && mkdir "$D" && cg delegate "$D"; then
	at_exit "for f in '$D'/*/cgroup.procs; do kill -KILL \$(cat \"\$f\") 2>/dev/null; done; rmdir '$D'/*/ '$D' 2>/dev/null"
	# each line of a shell started in D: what cg_tree_open said, where the shell is
	# then, where the sleep it starts in attempt d is
	sh -c 'echo $$ >"$1/cgroup.procs" && "$2" open $3 && grep "^0::" /proc/self/cgroup &&
		"$2" make $3 d && grep "^0::" /proc/$("$2" spawn $3 d /bin/sleep 300)/cgroup && "$2" kill $3 d' \
		sh "$D" "$T/cgtest" $H >"$T/delegated" 2>&1
	sed 's/^/# /' "$T/delegated"
	check "a delegated group is used as delegated" grep -q "^cgroup v2 at $D (delegated" "$T/delegated"
	check "... with every process of it moved into its agent/" grep -q "^0::.*/hotfarm-delegated$$/agent\$" "$T/delegated"
	check "... and the attempt's group beside agent/" grep -q "^0::.*/hotfarm-delegated$$/d\$" "$T/delegated"
	check "... emptied by cg_attempt_kill" wait_for 5 grep -q "populated 0" "$D/d/cgroup.events"
	sh -c 'echo $$ >"$1/agent/cgroup.procs" && exec "$2" remove $3 d' sh "$D" "$T/cgtest" $H
	check "... and removed by an agent started again in agent/" [ ! -e "$D/d" ]
else
	not_ok "a delegated v2 group can be made to test with"
fi
done_testing
