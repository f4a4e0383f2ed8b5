# t-smb.sh - jobs dropped from Windows through Samba (issue 18). A job's
# owner is the Unix user who owned the dropped files, so the share must keep
# each artist's own uid: no force user, each Windows name mapped to its
# Unix user (username map here; winbind/idmap with Active Directory). A
# private smbd on 127.0.0.1 serves inbox/ as the README's "Dropping jobs
# from Windows (Samba)" says; Windows user asmith (Unix alice) and bjones
# (Unix bob) drop a job each with smbclient. Each job is done and is its
# dropper's, whatever its job.ini claims (asmith's says owner = bob: a
# label, no more), and billed to them. inbox/ is a sticky folder: a file
# asmith leaves there under a temporary name ('.' first, which intake
# ignores) cannot be deleted or renamed by bjones.
# Needs root (users, smbd) and the samba and smbclient packages; skipped,
# saying so, without them.
. "$(dirname "$0")/lib.sh"
. "$HF_ROOT/tests/users.sh"

if [ "$(id -u)" != 0 ]; then
	ok "# SKIP Samba's users and smbd need root"
	done_testing
fi
if [ ! -x /usr/sbin/smbd ] || ! command -v smbclient >/dev/null 2>&1 || ! command -v smbpasswd >/dev/null 2>&1; then
	ok "# SKIP smbd or smbclient is not installed (apt-get install samba smbclient to run this test)"
	done_testing
fi
check "the studio's users are there (alice, bob in group artists)" test_users || done_testing

new_spool
# a preset hot folder, inbox/copies/: what is dropped there needs no .ini
printf '[preset]\nabout = "each frame a copy of in.png"\n[job]\nframes = 1-2\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "s_####.png"\nargs = cp {files}/in.png {output}\n' \
	>"$SPOOL/conf/presets/copies.ini"
start_watcherd
start_agent a --slots 2
# the artists may drop into inbox/, and each may remove only their own
# files there (sticky); the setgid bit keeps the group artists
hotfarm init --group artists "$SPOOL" >/dev/null

# ---- a private smbd ------------------------------------------------------------------------
# not the system's (samba's package enables smbd and nmbd on port 445, and
# starts them where services may start): its own port, address, files
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
S=$T/smb
mkdir -p "$S/private" "$S/lock" "$S/state" "$S/cache" "$S/run" "$S/ncalrpc" "$S/binddns" "$S/log"
chmod 700 "$S/private"
# the Unix user on the left, the Windows names that are that user on the right
cat >"$T/users.map" <<EOF
alice = asmith
bob = bjones
EOF
cat >"$T/smb.conf" <<EOF
[global]
	server role = standalone server
	security = user
	map to guest = never
	passdb backend = tdbsam:$T/passdb.tdb
	username map = $T/users.map
	smb ports = $PORT
	interfaces = 127.0.0.1
	bind interfaces only = yes
	disable netbios = yes
	private dir = $S/private
	lock directory = $S/lock
	state directory = $S/state
	cache directory = $S/cache
	pid directory = $S/run
	ncalrpc dir = $S/ncalrpc
	binddns dir = $S/binddns
	log file = $S/log/%m.log
	log level = 1
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
	rpc start on demand helpers = no

[inbox]
	path = $SPOOL/inbox
	read only = no
	valid users = @artists
	browseable = yes
	create mask = 0644
	directory mask = 0755
EOF
check "testparm accepts the share's configuration" sh -c "testparm -s '$T/smb.conf' >'$T/testparm.out' 2>&1"
for u in alice bob; do
	printf 'pw-%s\npw-%s\n' "$u" "$u" | smbpasswd -c "$T/smb.conf" -s -a "$u" >>"$T/smbpasswd.log" 2>&1
done
check "alice and bob have Samba passwords" sh -c "pdbedit -s '$T/smb.conf' -L 2>/dev/null | cut -d: -f1 | sort | tr '\n' ' ' | grep -qx 'alice bob '"

# In a session of its own (no --no-process-group): on SIGTERM smbd signals
# its whole process group, which would be this test's. It gets SIGTERM if
# this test dies, and its helpers (smbd-notifyd, cleanupd) follow it.
setpriv --pdeathsig TERM /usr/sbin/smbd --foreground --debug-stdout -s "$T/smb.conf" >"$T/smbd.log" 2>&1 &
SMBD=$!
_pids="$_pids $SMBD"
listening() { alive "$SMBD" && [ -n "$(ss -Hltn "sport = :$PORT" 2>/dev/null)" ]; }
check "smbd listens on port $PORT" wait_for 20 listening || {
	sed 's/^/# /' "$T/smbd.log" | tail -20
	done_testing
}

where=$(ss -Hltn "sport = :$PORT" 2>/dev/null | awk '{ print $4 }' | tr '\n' ' ')
check "on 127.0.0.1 alone ($where)" [ "$where" = "127.0.0.1:$PORT " ]

# smb WINUSER COMMANDS: smbclient on the inbox share as Windows user WINUSER
# (asmith is alice, bjones is bob), its output in $T/smb.out
smb() {
	case $1 in asmith) _pw=pw-alice ;; bjones) _pw=pw-bob ;; *) _pw=x ;; esac
	smbclient "//127.0.0.1/inbox" -p "$PORT" -s "$T/smb.conf" -U "$1%$_pw" -c "$2" >"$T/smb.out" 2>&1
	_rc=$?
	sed 's/^/# smbclient: /' "$T/smb.out" | grep -v '^# smbclient: *$' | head -5
	# smbclient ends 0 after a failed command in -c: its NT_STATUS says
	[ $_rc -eq 0 ] && ! grep -q 'NT_STATUS_' "$T/smb.out"
}
check "a wrong password is refused" sh -c "! smbclient //127.0.0.1/inbox -p $PORT -s '$T/smb.conf' -U 'asmith%nope' -c ls >/dev/null 2>&1"
check "a Windows name with no Unix user behind it is refused" sh -c "! smbclient //127.0.0.1/inbox -p $PORT -s '$T/smb.conf' -U 'mallory%pw-alice' -c ls >/dev/null 2>&1"

# ---- the sticky folder ----------------------------------------------------------------------
# a temporary name ('.' first) stays in inbox/: intake leaves it alone
echo draft >"$T/draft"
check "asmith puts a temporary file into the share" smb asmith "put $T/draft .asmith-draft.tar"
uid_of() { stat -c %u "$SPOOL/inbox/$1" 2>/dev/null; }
check "it is alice's on the disk (uid $(id -u alice): $(uid_of .asmith-draft.tar)), not smbd's or root's" \
	[ "$(uid_of .asmith-draft.tar)" = "$(id -u alice)" ]
check "created with create mask 0644 and the folder's group artists ($(stat -c '%a %G' "$SPOOL/inbox/.asmith-draft.tar"))" \
	[ "$(stat -c '%a %G' "$SPOOL/inbox/.asmith-draft.tar")" = "644 artists" ]
check "bjones can put a temporary file of his own" smb bjones "put $T/draft .bjones-draft.tar"
check "it is bob's ($(uid_of .bjones-draft.tar))" [ "$(uid_of .bjones-draft.tar)" = "$(id -u bob)" ]
check "and bjones can delete it" smb bjones "del .bjones-draft.tar"
check "it is gone" [ ! -e "$SPOOL/inbox/.bjones-draft.tar" ]
# refused WINUSER COMMANDS: smbclient's command fails, and says why
refused() { ! smb "$@" && grep -q 'NT_STATUS_ACCESS_DENIED' "$T/smb.out"; }
check "bjones cannot delete asmith's file (sticky inbox/)" refused bjones "del .asmith-draft.tar"
check "nor rename it" refused bjones "rename .asmith-draft.tar .bjones-now.tar"
check "nor write over it" refused bjones "put $T/draft .asmith-draft.tar"
check "it is still there, still alice's, unchanged" sh -c "[ \"\$(stat -c %u '$SPOOL/inbox/.asmith-draft.tar')\" = $(id -u alice) ] &&
	cmp -s '$T/draft' '$SPOOL/inbox/.asmith-draft.tar' && [ ! -e '$SPOOL/inbox/.bjones-now.tar' ]"
rm -f "$SPOOL/inbox/.asmith-draft.tar"

# ---- two jobs -------------------------------------------------------------------------------
# command jobs that need no renderer: each frame is a copy of in.png
job_files() {
	mkdir -p "$T/$1"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/$1/in.png" 64 48
	printf '[job]\nframes = 1-2\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "s_####.png"\nargs = cp {files}/in.png {output}\n' \
		>"$T/$1/job.ini"
}
# asmith's: an archive, then its .ini beside it, whose owner is a lie
job_files fromasmith
sed -i 's/^\[job\]$/[job]\nowner = bob/' "$T/fromasmith/job.ini"
tar -C "$T/fromasmith" -cf "$T/fromasmith.tar" in.png
check "asmith drops an archive, then its .ini (which says owner = bob)" \
	smb asmith "put $T/fromasmith.tar fromasmith.tar; put $T/fromasmith/job.ini fromasmith.ini"
# bjones's: one archive holding job.ini, no owner in it
job_files frombjones
tar -C "$T/frombjones" -cf "$T/frombjones.tar" .
check "bjones drops one archive holding its job.ini" smb bjones "put $T/frombjones.tar frombjones.tar"

check "asmith's job is done" wait_for 60 job_done fromasmith
check "bjones's job is done" wait_for 60 job_done frombjones
check "nothing was rejected ($(ls "$SPOOL/rejected" | tr '\n' ' '))" [ -z "$(ls -A "$SPOOL/rejected")" ]
check "inbox/ is empty again ($(inbox_left))" inbox_empty
for j in fromasmith frombjones; do
	n=$(ls "$SPOOL/jobs/$j/output" 2>/dev/null | grep -c '^s_000[12]\.png$')
	check "$j: both frames are in output/ ($n)" [ "$n" -eq 2 ]
done

# ---- a folder into a preset's hot folder ------------------------------------------------------
mkdir -p "$T/smbshot"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/smbshot/in.png" 64 48
check "the preset's folder is a drop folder like inbox/ ($(stat -c '%a %G' "$SPOOL/inbox/copies"))" \
	[ "$(stat -c '%a %G' "$SPOOL/inbox/copies")" = "$(stat -c '%a %G' "$SPOOL/inbox")" ]
check "asmith makes a folder in the preset's folder copies/ and copies a file into it" \
	smb asmith "cd copies; mkdir smbshot; cd smbshot; put $T/smbshot/in.png in.png"
check "it becomes a job the preset describes, and is done" wait_for 60 job_done smbshot
check "... alice's" grep -q '^owner = "*alice"*$' "$SPOOL/jobs/smbshot/status.ini"
check "... both frames" [ "$(ls "$SPOOL/jobs/smbshot/output" 2>/dev/null | grep -c '^s_000[12]\.png$')" -eq 2 ]
check "the preset's folder is empty again ($(inbox_left))" inbox_empty

# ---- whose they are (intake's side of issue 18) -----------------------------------------------
# ini_has FILE SECTION KEY VALUE: KEY = VALUE (quoted or not) in [SECTION]
ini_has() {
	awk -v s="[$2]" -v k="$3" -v v="$4" '
		/^\[/ { in_s = ($0 == s); next }
		in_s { line = $0; sub(/^[ \t]+/, "", line)
			if (line == k " = " v || line == k " = \"" v "\"" || line == k " = '\''" v "'\''") found = 1 }
		END { exit !found }' "$1" 2>/dev/null
}
val() { sed -n "s/^$2 = //p" "$1" 2>/dev/null | head -1; }
J=$SPOOL/jobs
check "asmith's job is alice's, not bob's as its job.ini said (status.ini: owner = $(val "$J/fromasmith/status.ini" owner))" \
	ini_has "$J/fromasmith/status.ini" status owner alice
check "bjones's job is bob's (status.ini: owner = $(val "$J/frombjones/status.ini" owner))" \
	ini_has "$J/frombjones/status.ini" status owner bob
# owned FILE USER: job.ini's [owner] is USER, by USER's uid, decided by the files' owner
owned() { ini_has "$1" owner user "$2" && ini_has "$1" owner uid "$(id -u "$2")" && ini_has "$1" owner by file; }
check "asmith's job.ini: [owner] user = alice, uid = $(id -u alice), by = file" owned "$J/fromasmith/job.ini" alice
check "its claimed owner bob is kept as the label" ini_has "$J/fromasmith/job.ini" owner label bob
check "bjones's job.ini: [owner] user = bob, uid = $(id -u bob), by = file" owned "$J/frombjones/job.ini" bob
hotfarm billing >"$T/bill.out" 2>&1
sed 's/^/# /' "$T/bill.out"
check "hotfarm billing bills alice for asmith's job" grep -Eq '^alice[[:space:]]+fromasmith[[:space:]]' "$T/bill.out"
check "and bob for bjones's" grep -Eq '^bob[[:space:]]+frombjones[[:space:]]' "$T/bill.out"

# ---- and smbd goes -------------------------------------------------------------------------
kill -TERM "$SMBD"
gone() { ! alive "$SMBD" && [ -z "$(ss -Hltn "sport = :$PORT" 2>/dev/null)" ]; }
check "smbd stops and its port is free" wait_for 10 gone
session_empty() { [ -z "$(ps -o pid= -s "$SMBD" 2>/dev/null)" ]; }
wait_for 10 session_empty
left=$(ps -o pid=,comm= -s "$SMBD" 2>/dev/null | tr '\n' ' ')
check "its helpers go too: no process of its session is left (${left:-none})" [ -z "$left" ]
done_testing
