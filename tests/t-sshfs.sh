# t-sshfs.sh - render hosts sharing the spool over a real network
# filesystem. The spool lives on this machine's disk and is served by a
# private sshd; two hosts, hosta and hostb, mount it with sshfs (FUSE), each
# in its own mount, network and UTS namespace: a veth pair to the sshd's own
# network namespace is its only wire, and the spool's folder on the local
# disk is hidden from it, so all it knows of the spool comes over sftp.
# watcherd runs on hosta, an agent on each. FUSE reports to inotify only
# what went through the same mount, so what one host does reaches the other
# by its rescans alone, as on NFS. A job dropped through hostb is taken in
# by watcherd on hosta; both hosts render its frames; every frame is in
# output/ once, whole, rendered once, and its ticket in done/ once.
# It follows the README's walkthrough "Several render hosts on one spool":
# the mount options it gives, the daemons started by the systemd units'
# ExecStart lines, the hosts seen in `hotfarm hosts`, a frame's host in
# `hotfarm log`, and a host drained for maintenance.
# STRESS=1 (make stress): more jobs, frames and slots.
. "$(dirname "$0")/lib.sh"

if [ "${STRESS:-}" ]; then
	JOBS=${JOBS:-8} FRAMES=${FRAMES:-48} SLOTS=${SLOTS:-2}
else
	JOBS=${JOBS:-2} FRAMES=${FRAMES:-12} SLOTS=${SLOTS:-1}
fi

missing=""
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v ssh >/dev/null 2>&1 || missing="$missing openssh-client"
command -v sshfs >/dev/null 2>&1 || missing="$missing sshfs"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q $missing </dev/null >"$T/apt.log" 2>&1 ||
		{ apt-get update -q </dev/null && apt-get install -y -q $missing </dev/null; } >>"$T/apt.log" 2>&1
fi
have_tools() {
	[ "$(id -u)" = 0 ] && [ -x /usr/sbin/sshd ] && command -v sshfs >/dev/null && command -v ip >/dev/null &&
		[ -c /dev/fuse ]
}
check "root, sshd, sshfs, ip and /dev/fuse are there (namespaces and mounts need root)" have_tools
have_tools || done_testing

RESCAN_MS=300 HOST_TIMEOUT=10 new_spool
# the hosts see the spool only through their mounts
unset HOTFARM_SPOOL

# ---- the machines -------------------------------------------------------------------------
# Each namespace is held by a `sleep` that dies with this test (its
# parent-death signal), so even a killed test leaves no namespace behind;
# everything else started here stops in hosts_down, also on failure.
_infra=""
ns_hold() {
	setpriv --pdeathsig KILL unshare "$@" sleep 100000 &
	_infra="$_infra $!"
	_held=$!
	# unshare has made the namespaces and set up propagation once it runs sleep
	wait_for 10 sh -c "[ \"\$(cat /proc/$_held/comm 2>/dev/null)\" = sleep ]" || {
		echo "# unshare $* failed" >&2
		return 1
	}
}
ns_id() { readlink "/proc/$1/ns/$2" 2>/dev/null; }
# Stop the daemons while their mounts still work, then unmount, then stop
# sshfs, sshd and the namespace holders. Idempotent.
# no file of the spool is still open through a mount: sshfs keeps one
# that was removed while open as .fuse_hiddenN until its last close has
# reached it, a moment after the process ended (a mount taken away
# before that leaves it on the server)
_no_hidden() { ! ls -A "$T"/spool/hosts/*/ 2>/dev/null | grep -q '^\.fuse_hidden'; }
hosts_down() {
	stop_pids
	_pids=""
	wait_for 10 _no_hidden
	for _h in a b; do
		eval "_p=\${HOST_$_h:-}"
		[ -n "$_p" ] && alive "$_p" && nsenter -t "$_p" -m umount -l "$T/mnt/$_h" 2>/dev/null
	done
	for _p in $_infra; do kill -TERM "$_p" 2>/dev/null; done
	for _p in $_infra; do
		_i=0
		while alive "$_p" && [ $_i -lt 300 ]; do sleep 0.01; _i=$((_i + 1)); done
		kill -KILL "$_p" 2>/dev/null
	done
	_infra=""
}
trap 'hosts_down; _cleanup' EXIT

# the file server's network: sshd listens on one address per host link
ns_hold -n || { not_ok "a network namespace for the file server"; done_testing; }
SRV=$_held
nsenter -t "$SRV" -n ip link set lo up
mkdir -p "$T/mnt/a" "$T/mnt/b" "$T/ssh" /run/sshd
chmod 700 "$T/ssh"
i=0
for h in a b; do
	i=$((i + 1))
	ns_hold -m -n -u --propagation private || { not_ok "namespaces for host$h"; done_testing; }
	eval "HOST_$h=$_held"
	# a link-local /30 per host: it cannot leave this machine
	srv_ip=169.254.77.$((4 * i - 3)) host_ip=169.254.77.$((4 * i - 2))
	eval "SRV_IP_$h=$srv_ip"
	nsenter -t "$SRV" -n ip link add "to-$h" type veth peer name eth0 netns "$_held" &&
		nsenter -t "$SRV" -n ip addr add "$srv_ip/30" dev "to-$h" &&
		nsenter -t "$SRV" -n ip link set "to-$h" up &&
		nsenter -t "$_held" -n ip addr add "$host_ip/30" dev eth0 &&
		nsenter -t "$_held" -n ip link set eth0 up &&
		nsenter -t "$_held" -n ip link set lo up &&
		nsenter -t "$_held" -u hostname "host$h" &&
		nsenter -t "$_held" -m mount -t tmpfs -o size=64k,mode=0 hidden "$SPOOL" ||
		{ not_ok "host$h's namespaces are set up"; done_testing; }
done
# ON_a CMD...: run CMD on hosta (its mounts, network and host name); it
# execs CMD, so $! is CMD's pid; CMD gets SIGTERM if this test dies
ON_a="setpriv --pdeathsig TERM nsenter -t $HOST_a -m -n -u --"
ON_b="setpriv --pdeathsig TERM nsenter -t $HOST_b -m -n -u --"
MA=$T/mnt/a
MB=$T/mnt/b

ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id" -C render-hosts </dev/null
cp "$T/ssh/id.pub" "$T/ssh/authorized_keys"
for ip in "$SRV_IP_a" "$SRV_IP_b"; do echo "$ip $(cut -d' ' -f1,2 "$T/ssh/host.pub")"; done >"$T/ssh/known_hosts"
cat >"$T/ssh/sshd_config" <<EOF
ListenAddress $SRV_IP_a
ListenAddress $SRV_IP_b
Port 22
HostKey $T/ssh/host
AuthorizedKeysFile $T/ssh/authorized_keys
PidFile none
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
ForceCommand internal-sftp
Subsystem sftp internal-sftp
LogLevel VERBOSE
EOF
setpriv --pdeathsig TERM nsenter -t "$SRV" -n /usr/sbin/sshd -D -e -f "$T/ssh/sshd_config" 2>"$T/sshd.log" &
_infra="$_infra $!"
sshd_up() { [ "$(grep -c '^Server listening on 169\.254\.77\.[15] port 22' "$T/sshd.log")" -eq 2 ]; }
check "sshd serves the spool in a network namespace of its own" wait_for 10 sshd_up
sshd_up || done_testing

# sshfs as NFS-like as it goes: no sshfs cache of names and attributes (by
# default it keeps them 20 s, and another host's heartbeat, tickets and
# queue would look that old), the kernel keeps them 1 s and no negative
# entries; a rename is one rename(2) on the server (OpenSSH's posix-rename
# extension, which sshfs uses when offered, so no workaround=rename); and
# it reconnects after a broken link. There is no hard_remove in sshfs 3:
# a file open on the mount that is unlinked or renamed over is first
# renamed to .fuse_hiddenN, as NFS renames it to .nfsN.
SSHFS_OPTS=dir_cache=no,attr_timeout=1,entry_timeout=1,negative_timeout=0,reconnect
SSHFS_OPTS=$SSHFS_OPTS,ServerAliveInterval=5,ServerAliveCountMax=3,BatchMode=yes,IdentityFile=$T/ssh/id
SSHFS_OPTS=$SSHFS_OPTS,UserKnownHostsFile=$T/ssh/known_hosts,StrictHostKeyChecking=yes,LogLevel=ERROR
for h in a b; do
	eval "on=\$ON_$h ip=\$SRV_IP_$h"
	$on sshfs -f -o "$SSHFS_OPTS" "root@$ip:$SPOOL" "$T/mnt/$h" 2>"$T/sshfs-$h.log" &
	_infra="$_infra $!"
done
mounted() { eval "_on=\$ON_$1" && $_on test -f "$T/mnt/$1/conf/hotfarm.ini"; }
check "hosta mounts the spool with sshfs" wait_for 15 mounted a
check "hostb mounts it too" wait_for 15 mounted b
mounted a && mounted b || done_testing
check "the mounts are private to the hosts' namespaces" sh -c "! grep -q ' $T/mnt/' /proc/self/mounts"
check "a host cannot see the spool's folder on the server's disk" $ON_a test ! -e "$SPOOL/conf"
check "hostb's network is its link to the server" sh -c "$ON_b ip -4 -o addr show | grep -q ' eth0 .*169\.254\.77\.6/30'"

# ---- the farm -------------------------------------------------------------------------------
$ON_a $(unit_exec watcherd "$MA") 2>>"$T/watcherd-a.log" &
WATCHERD=$!
_pids="$_pids $WATCHERD"
wd_ready() { [ "$(cat "$SPOOL/run/watcherd.pid" 2>/dev/null)" = "$WATCHERD" ]; }
check "watcherd runs on hosta" wait_for 15 wd_ready
check "and knows it is on a network filesystem" grep -q 'network filesystem' "$T/watcherd-a.log"
# sshfs shares no locks between hosts: the lock file's heartbeat keeps a
# second watcherd out
timeout 20 $ON_b watcherd --spool "$MB" >"$T/watcherd-b.log" 2>&1
rc=$?
check "a second watcherd on hostb refuses to run ($rc: $(tail -1 "$T/watcherd-b.log"))" \
	sh -c "[ $rc -eq 111 ] && grep -q 'another watcherd is running on .*host=hosta' '$T/watcherd-b.log'"

agent_up() { [ -f "$SPOOL/hosts/$1/host.ini" ] && [ -f "$SPOOL/hosts/$1/heartbeat" ]; }
for h in a b; do
	eval "on=\$ON_$h"
	# as the unit starts it (no --name: named after its host name)
	$on $(unit_exec render-agent "$T/mnt/$h") --slots "$SLOTS" 2>>"$T/agent-$h.log" &
	_pids="$_pids $!"
	check "an agent runs on host$h" wait_for 20 agent_up "host$h"
done

both_up() {
	$ON_b hotfarm --spool "$MB" hosts >"$T/hosts.out" 2>&1 &&
		[ "$(grep -Ec '^host[ab]\b.*\bup\b' "$T/hosts.out")" -eq 2 ]
}
check "hotfarm hosts (on hostb) shows both hosts up" wait_for 10 both_up

# ---- jobs -------------------------------------------------------------------------------------
# drop_on HOST NAME DIR: a user on HOST drops a job the careful way into
# its mount's inbox/
drop_on() {
	eval "_on=\$ON_$1"
	tar -C "$3" -cf "$T/$2.tar" . &&
		$_on sh -c 'cp "$1" "$2/.$3" && mv "$2/.$3" "$2/$3"' drop "$T/$2.tar" "$T/mnt/$1/inbox" "$2.tar"
}
jobs="" n=0 total=0
while [ $n -lt $JOBS ]; do
	n=$((n + 1))
	# the first job comes through hostb, the others alternate
	h=$( [ $((n % 2)) -eq 1 ] && echo b || echo a)
	# the first is the long one
	f=$( [ $n -eq 1 ] && echo "$FRAMES" || echo $((FRAMES / 3)))
	name=j$n-via$h
	povray_job "$T/$name" "1-$f"
	# runs of 2: small frames would all go to one process on one host
	# (fastest), and this test wants both hosts at work on one job
	sed -i 's/^\[job\]$/[job]\nchunk = 2/' "$T/$name/job.ini"
	check "$name ($f frames) is dropped through host$h's mount" drop_on "$h" "$name" "$T/$name"
	jobs="$jobs $name:$f"
	total=$((total + f))
done
taken_in() { queued "$1" || job_done "$1"; }
check "watcherd on hosta takes in the job dropped through hostb" wait_for 20 taken_in j1-viab
# watcherd watches inbox/ with inotify, which tells it of hosta's own
# renames there (landed) but of none of hostb's
check "found by its rescan: inotify saw nothing of hostb's rename into inbox/" \
	sh -c "grep -q 'watching .*inotify, network filesystem' '$T/watcherd-a.log' &&
		grep -q 'inbox: j1-viab.tar appeared' '$T/watcherd-a.log' && ! grep -q 'inbox: j1-viab.tar landed' '$T/watcherd-a.log'"

all_done() { for j in $jobs; do job_done "${j%%:*}" || return 1; done; }
check "every job is rendered to the end ($total frames)" wait_for $((total * 2 + 30)) all_done

# ---- what came out ------------------------------------------------------------------------------
for j in $jobs; do
	name=${j%%:*} f=${j##*:}
	J=$SPOOL/jobs/$name
	want=$(seq -f 'f_%04g.png' 1 "$f")
	check "$name: output/ holds f_0001..f_$(printf %04d "$f") and nothing else ($(ls -A "$J/output" | tr '\n' ' '))" \
		[ "$(ls -A "$J/output")" = "$want" ]
	bad=""
	for x in $want; do
		case "$(pixels "$J/output/$x")" in "64x48 "*) ;; *) bad="$bad $x" ;; esac
	done
	check "$name: every frame is a whole 64x48 PNG (not:$bad)" [ -z "$bad" ]
	rest=$(($(count "$J/frames/todo") + $(count "$J/frames/active") + $(count "$J/frames/failed")))
	check "$name: every ticket ended in done/ ($(count "$J/frames/done") of $f), none elsewhere ($rest)" \
		[ "$(count "$J/frames/done")" -eq "$f" -a "$rest" -eq 0 ]
	# each render bills a line on its ticket: one per frame means rendered once
	cat "$J"/frames/done/* >"$T/$name.tickets"
	dup=$(sed -n 's/^billing = frame=\([0-9]*\) .*/\1/p' "$T/$name.tickets" | sort -n | uniq -d | tr '\n' ' ')
	nb=$(grep -c '^billing = frame=[0-9]* ok=1 ' "$T/$name.tickets")
	check "$name: each frame was rendered once ($nb renders for $f frames; twice:${dup:-none})" \
		[ "$nb" -eq "$f" -a -z "$dup" -a "$(grep -c '^billing = ' "$T/$name.tickets")" -eq "$f" ]
	# one log per renderer process, and a process renders a run of frames
	check "$name: a log per renderer process, no more than frames ($(count "$J/logs") for $f)" \
		[ "$(count "$J/logs")" -ge 1 -a "$(count "$J/logs")" -le "$f" ]
	check "$name: status.ini says done with $f frames" \
		sh -c "grep -q '^state = \"done\"' '$J/status.ini' && grep -q '^frames_done = $f\$' '$J/status.ini'"
done
J=$SPOOL/jobs/j1-viab
check "j1-viab: both hosts rendered frames of it ($(grep '^hosts = ' "$J/billing.ini"))" \
	grep -Eq '^hosts = (hosta,hostb|hostb,hosta)$' "$J/billing.ini"

# a frame from each host is the frame povray renders by hand
fa=$(sed -n 's/^billing = frame=\([0-9]*\) ok=1 host=hosta\..*/\1/p' "$T/j1-viab.tickets" | head -1)
fb=$(sed -n 's/^billing = frame=\([0-9]*\) ok=1 host=hostb\..*/\1/p' "$T/j1-viab.tickets" | head -1)
bad=""
for x in $fa $fb; do
	(cd "$T/j1-viab" && povray -D -V +Iscene.pov +O"$T/hand$x.png" +W64 +H48 +FN +KFI1 +KFF"$FRAMES" +SF"$x" +EF"$x") \
		>/dev/null 2>&1
	hand=$(pixels "$(ls "$T/hand$x"*.png | head -1)")
	[ -n "$hand" ] && [ "$hand" = "$(pixels "$J/output/$(printf 'f_%04d.png' "$x")")" ] || bad="$bad $x"
done
check "frame $fa (hosta's) and frame $fb (hostb's) are pixel-identical to povray by hand (differ:$bad)" \
	[ -n "$fa" -a -n "$fb" -a -z "$bad" ]

check "nothing was rejected ($(ls "$SPOOL/rejected" | tr '\n' ' '))" [ -z "$(ls -A "$SPOOL/rejected")" ]
check "no host was taken for lost" sh -c "! grep -q 'lost' '$T/watcherd-a.log' && [ -z \"\$(ls $SPOOL/hosts/*/lost 2>/dev/null)\" ]"
# the daemons still run: a page or status being written has its temporary
# file (.NAME.PID.tmp) while its writer runs, so a leftover is one whose
# writer is gone (the hosts share this machine's process IDs)
tmps() {
	find "$SPOOL" -name '.*.tmp' | while read -r _f; do
		_p=${_f%.tmp}
		_p=${_p##*.}
		case $_p in *[!0-9]* | '') ;; *) [ -d "/proc/$_p" ] && continue ;; esac
		echo "${_f#"$SPOOL"/}"
	done | tr '\n' ' '
}
no_tmps() { [ -z "$(tmps)" ]; }
wait_for 10 no_tmps
left=$(tmps)
check "no temporary files are left in the spool (${left:-none})" [ -z "$left" ] || {
	for _f in $left; do diag "$(ls -la --time-style=+%T.%N "$SPOOL/$(dirname "$_f")")"; done
	diag "$(grep -i 'unable\|hf-status' "$T/watcherd-a.log" | tail -20)"
}
# A file replaced while open on the same mount (a slot file or status.ini
# while the status page reads it) is first renamed to .fuse_hiddenN by
# libfuse and removed when closed; a close racing that rename leaves it for
# good (libfuse's race; harmless: an old copy of a replaced file)
left=$(find "$SPOOL" -name '.fuse_hidden*' | sed "s|$SPOOL/||" | tr '\n' ' ')
[ -z "$left" ] || diag "libfuse left hidden files: $left"
# over sshfs (and NFS) a file unlinked while open stays under a hidden name
# until closed: intake closes the dropped files and its lock before it
# removes its work folder, or the folder would stay until a recovery
left=$(ls "$SPOOL/work" | tr '\n' ' ')
check "intake leaves nothing in work/ (${left:-nothing})" [ -z "$left" ]
check "the agents and watcherd are still running" sh -c "for p in $_pids; do kill -0 \$p || exit 1; done"

# ---- the walkthrough's last steps ----------------------------------------------------------------
$ON_a hotfarm --spool "$MA" log j1-viab "$fb" >"$T/log.out" 2>&1
check "hotfarm log j1-viab $fb names the host that rendered it (hostb)" grep -q 'on hostb\.' "$T/log.out"
$ON_a hotfarm --spool "$MA" drain hostb >/dev/null 2>&1
drained() { $ON_a hotfarm --spool "$MA" hosts 2>/dev/null | grep -Eq '^hostb\b.*\bdraining\b'; }
check "hotfarm drain hostb: hosts shows it draining" wait_for 10 drained
povray_job "$T/after-drain" 1-4
sed -i 's/^\[job\]$/[job]\nchunk = 1/' "$T/after-drain/job.ini"
drop_on a after-drain "$T/after-drain"
check "a job dropped after the drain is rendered" wait_for 60 job_done after-drain
by_a() { # every frame billed once, on a slot of hosta
	cat "$SPOOL"/jobs/after-drain/frames/done/* >"$T/after-drain.tickets" &&
		[ "$(grep -c '^billing = frame=[0-9]* ok=1 host=hosta\.' "$T/after-drain.tickets")" -eq 4 ] &&
		! grep -q '^billing = .* host=hostb\.' "$T/after-drain.tickets"
}
check "by hosta alone" by_a

# ---- and nothing stays behind ---------------------------------------------------------------------
ids=""
for p in $SRV $HOST_a $HOST_b; do ids="$ids $(ns_id "$p" net) $(ns_id "$p" mnt)"; done
ids=$(echo "$ids" | tr ' ' '\n' | grep . | grep -vxF -e "$(ns_id $$ net)" -e "$(ns_id $$ mnt)" | sort -u)
hosts_down
# a stopped agent leaves its record (what it offered), its drain marker
# and nothing it kept up: no heartbeat, lock or slot file
left=$(cd "$SPOOL/hosts" && ls -A */ | grep -vx -e 'host.ini' -e 'drain' -e 'hosta/:' -e 'hostb/:' -e '' | tr '\n' ' ')
check "stopped agents leave only their records and drain marker (${left:-nothing else})" \
	sh -c "[ -z '$left' ] && [ -f '$SPOOL/hosts/hosta/host.ini' ] && [ -f '$SPOOL/hosts/hostb/drain' ]"
check "hotfarm hosts says both are offline" sh -c \
	"[ \"\$(hotfarm --spool '$SPOOL' hosts | grep -c '^host[ab]: offline')\" -eq 2 ]"
in_ns=""
for d in /proc/[0-9]*; do
	for k in net mnt; do
		id=$(readlink "$d/ns/$k" 2>/dev/null) && [ -n "$id" ] && echo "$ids" | grep -qxF "$id" &&
			in_ns="$in_ns ${d#/proc/}($(cat "$d/comm" 2>/dev/null))"
	done
done
check "after the hosts go down no process is left in their namespaces (${in_ns:-none})" [ -z "$in_ns" ]
check "and no sshfs mount is left anywhere" sh -c "! grep -qs ' $T/mnt/' /proc/[0-9]*/mounts"
done_testing
