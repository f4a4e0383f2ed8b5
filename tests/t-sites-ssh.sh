# t-sites-ssh.sh - the README's walkthrough "Two sites linked over ssh",
# step by step, with a real sshd on 127.0.0.1 standing in for both sites'
# hosts. Each site pushes its own out/ with a key whose authorized_keys line
# (the README's, with `restrict`) forces `hotfarm sync --serve` for that one
# peer whatever the client asks to run; each link is added to a running
# watcherd (started by the unit's ExecStart) and taken up by a reload
# (SIGHUP, the unit's ExecReload). A job for site b goes over ssh, renders
# there and comes back done with its frames.
. "$(dirname "$0")/lib.sh"

if [ ! -x /usr/sbin/sshd ]; then
	[ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server openssh-client \
		</dev/null >"$T/apt.log" 2>&1
fi
check "Debian's sshd is there" [ -x /usr/sbin/sshd ]
[ -x /usr/sbin/sshd ] || done_testing

# 1. a spool and watcherd on each site, named in conf/hotfarm.ini
site a
site b
for s in a b; do
	SPOOL=$T/$s
	$(unit_exec watcherd "$SPOOL") 2>>"$SPOOL.watcherd.log" &
	eval "W_$s=$!"
	_pids="$_pids $!"
	check "step 1: watcherd runs on site $s (the unit's ExecStart)" wait_for 10 test -f "$SPOOL/run/watcherd.pid"
done
SPOOL=$T/b
start_agent b1 --slots 1

# 2. a key for each link (on its site, as the hotfarm user)
mkdir -p /run/sshd "$T/ssh"
chmod 700 "$T/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/to-b" -C a </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/to-a" -C b </dev/null
check "step 2: a key for each link" [ -s "$T/ssh/to-b.pub" -a -s "$T/ssh/to-a.pub" ]

# 3. each key pinned to one command and one peer at the other site
# (one sshd stands for both sites' hosts: the key decides which spool)
{
	printf 'command="%s sync --serve --spool %s --peer a",restrict %s\n' "$BIN/hotfarm" "$T/b" "$(cat "$T/ssh/to-b.pub")"
	printf 'command="%s sync --serve --spool %s --peer b",restrict %s\n' "$BIN/hotfarm" "$T/a" "$(cat "$T/ssh/to-a.pub")"
} >"$T/ssh/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/ssh/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $PORT
HostKey $T/ssh/host
AuthorizedKeysFile $T/ssh/authorized_keys
PidFile $T/ssh/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel VERBOSE
EOF
/usr/sbin/sshd -D -e -f "$T/ssh/sshd_config" 2>"$T/sshd.log" &
_pids="$_pids $!"
listening() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null; }
check "step 3: sshd listens on 127.0.0.1:$PORT with the pinned keys" wait_for 10 listening
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$T/ssh/host.pub")" >"$T/ssh/known_hosts"

# 4. the link in conf/hotfarm.ini, then a reload; the client asks for a
# command of its own (another spool, another peer): the key's wins
link_over_ssh() { # FROM TO
	printf '[site %s]\ntransport = ssh -T -i %s -o BatchMode=yes -p %s -o UserKnownHostsFile=%s -o LogLevel=ERROR root@127.0.0.1 hotfarm sync --serve --spool /elsewhere --peer mallory\n' \
		"$2" "$T/ssh/to-$2" "$PORT" "$T/ssh/known_hosts" >>"$T/$1/conf/hotfarm.ini"
	eval "kill -HUP \$W_$1"
}
link_over_ssh a b
check "step 4: watcherd at a takes the new link on reload" \
	wait_for 5 grep -q 'msg="re-read conf/hotfarm.ini (site a' "$T/a.watcherd.log"
# 5. the same the other way
link_over_ssh b a
check "step 5: and watcherd at b" wait_for 5 grep -q 'msg="re-read conf/hotfarm.ini (site b' "$T/b.watcherd.log"

# 6. the link works: a sync by hand, then each site hears the other
# watcherd at a pushes out/ itself as files appear, and b's takes what
# arrives: both are stopped for this step (and any push a had started is
# let finish) so that the sync by hand is the only one and what it
# delivers stays where it put it
kill -STOP "$W_a" "$W_b"
check "step 6: no push of a's own under way" wait_brief 30 sh -c "! pgrep -P $W_a -f '/hf-sync ' >/dev/null"
mkdir -p "$T/a/sites/b/out"
head -c 100000 /dev/urandom >"$T/a/sites/b/out/probe.bin"
cp "$T/a/sites/b/out/probe.bin" "$T/probe.bin"
hotfarm --spool "$T/a" sync b >"$T/sync.out" 2>&1
check "step 6: hotfarm sync b over ssh delivers a file ($(cat "$T/sync.out"))" cmp -s "$T/probe.bin" "$T/b/sites/a/in/probe.bin"
check "and says it sent it (and whatever else was waiting: a summary)" grep -Eq '[1-9][0-9]* files? sent' "$T/sync.out"
kill -CONT "$W_a" "$W_b"
check "into the peer the key pins (a), not the one the client asked for" [ ! -e "$T/b/sites/mallory" ]
check "sshd saw the key" grep -q 'Accepted publickey' "$T/sshd.log"
rm -f "$T/b/sites/a/in/probe.bin"
sees_b() { hotfarm --spool "$T/a" --json sites 2>/dev/null | grep -q '"site":"b","summary_age_s":[0-9]*,"hosts":1,'; }
check "hotfarm sites at a shows site b heard from, with its one host (b's summary came over ssh)" wait_for 30 sees_b

# 7. a job for site b: rendered there, back at a with its frames
SPOOL=$T/a
povray_job "$T/job" 1-2
printf '[job]\nsite = b\n' >>"$T/job/job.ini"
drop_dir overssh "$T/job"
check "step 7: a job for site b goes over ssh, renders there and comes back done" wait_for 120 in_state done overssh
check "with its frames" [ "$(ls "$T/a/jobs/overssh/output" | grep -c '^f_000[12]\.png$')" -eq 2 ]
check "and b's logs" [ -n "$(ls "$T/a/jobs/overssh/logs/site-b" 2>/dev/null)" ]
done_testing
