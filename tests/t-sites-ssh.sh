# t-sites-ssh.sh - a site link over a real sshd on 127.0.0.1: site a's
# transport is ssh with a generated key whose authorized_keys line forces
# `hotfarm sync --serve --peer a` (whatever the client asks to run). A job
# for site b goes over it, renders at b and comes back done.
. "$(dirname "$0")/lib.sh"

if [ ! -x /usr/sbin/sshd ]; then
	[ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server openssh-client \
		</dev/null >"$T/apt.log" 2>&1
fi
check "Debian's sshd is there" [ -x /usr/sbin/sshd ]
[ -x /usr/sbin/sshd ] || done_testing

site a
site b

# a private sshd: its own host key, config, port and authorized_keys
mkdir -p /run/sshd "$T/ssh"
chmod 700 "$T/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id" -C site-a </dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'command="%s --spool %s sync --serve --peer a",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding %s\n' \
	"$BIN/hotfarm" "$T/b" "$(cat "$T/ssh/id.pub")" >"$T/ssh/authorized_keys"
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
SSHD=$!
_pids="$_pids $SSHD"
listening() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null; }
check "sshd listens on 127.0.0.1:$PORT" wait_for 10 listening

# a reaches b over ssh (asking for another peer: the key's command decides)
SSH="ssh -T -i $T/ssh/id -p $PORT -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=$T/ssh/known_hosts -o LogLevel=ERROR"
printf '[site b]\ntransport = %s root@127.0.0.1 hotfarm sync --serve --spool /elsewhere --peer mallory\n' "$SSH" \
	>>"$T/a/conf/hotfarm.ini"
printf '[site a]\ntransport = %s --spool %s sync --serve --peer b\n' "$BIN/hotfarm" "$T/a" >>"$T/b/conf/hotfarm.ini"

mkdir -p "$T/a/sites/b/out"
head -c 100000 /dev/urandom >"$T/a/sites/b/out/probe.bin"
cp "$T/a/sites/b/out/probe.bin" "$T/probe.bin"
hotfarm --spool "$T/a" sync b >"$T/sync.out" 2>&1
check "hotfarm sync over ssh delivers a file ($(cat "$T/sync.out"))" cmp -s "$T/probe.bin" "$T/b/sites/a/in/probe.bin"
check "into the peer the key pins (a), not the one the client asked for" [ ! -e "$T/b/sites/mallory" ]
check "sshd saw the key" grep -q 'Accepted publickey' "$T/sshd.log"
rm -f "$T/b/sites/a/in/probe.bin"

SPOOL=$T/b
start_watcherd
start_agent b1 --slots 1
SPOOL=$T/a
start_watcherd
povray_job "$T/job" 1-2
printf '[job]\nsite = b\n' >>"$T/job/job.ini"
drop_dir overssh "$T/job"
check "a job for site b goes over ssh, renders there and comes back done" wait_for 120 in_state done overssh
check "with its frames" [ "$(ls "$T/a/jobs/overssh/output" | grep -c '^f_000[12]\.png$')" -eq 2 ]
done_testing
