# t-install.sh - make install and uninstall as an admin or a packager runs
# them: into a PREFIX of its own, where the installed programs render a job
# on their own (started by the systemd units' ExecStart lines, reloaded by
# their ExecReload), and staged with DESTDIR for PREFIX=/usr (/etc/hotfarm,
# an edited file kept); the man pages render cleanly; uninstall leaves
# nothing behind.
. "$(dirname "$0")/lib.sh"

P=$T/prefix
not_grep() { ! grep -q "$@"; }
mk() { make -C "$HF_ROOT" --no-print-directory -j2 I_OBJ="$T/obj" I_BUILT="$T/built" "$@"; }
mk install PREFIX="$P" >"$T/install.log" 2>&1
check "make install PREFIX=… works" [ $? -eq 0 ]
has_all() {
	for f in bin/hotfarm sbin/watcherd sbin/render-agent lib/hotfarm/hf-intake lib/hotfarm/hf-route \
		lib/hotfarm/hf-check lib/hotfarm/hf-status lib/hotfarm/hf-notify lib/hotfarm/hf-collect \
		lib/hotfarm/hf-send lib/hotfarm/hf-sync lib/hotfarm/hf-request lib/hotfarm/hf-confine \
		lib/hotfarm/libhfwrap.so share/hotfarm/conf/hotfarm.ini \
		share/hotfarm/conf/packages/povray.ini share/hotfarm/conf/packages/blender.ini \
		share/man/man1/hotfarm.1 share/man/man8/watcherd.8 share/man/man8/render-agent.8 \
		share/man/man5/hotfarm.ini.5 share/man/man5/job.ini.5 \
		lib/systemd/system/watcherd@.service lib/systemd/system/render-agent@.service; do
		[ -e "$P/$f" ] || { diag "missing: $f"; return 1; }
	done
}
check "programs in bin/ and sbin/, stages and the wrapper in lib/hotfarm/, conf, man pages, units" has_all
check "the default preset" [ -f "$P/share/hotfarm/conf/presets/default.ini" ]
zipped() { python3 -m zipfile -l "$P/share/hotfarm/blender/hotfarm_submit.zip" | grep -q 'hotfarm_submit/__init__.py'; }
check "the Blender add-on, as a zip Blender installs" zipped
D_APP=$P/share/applications/hotfarm-submit.desktop
check "the desktop file for \"Send to hotfarm\" runs the installed hotfarm" \
	grep -qx "Exec=$P/bin/hotfarm submit %F" "$D_APP"
desktop-file-validate "$D_APP" >"$T/validate.out" 2>&1
check "desktop-file-validate finds nothing wrong in it ($(head -c 300 "$T/validate.out"))" [ $? -eq 0 -a ! -s "$T/validate.out" ]
check "it is offered for .blend and .pov files and folders" \
	grep -qx 'MimeType=application/x-blender;text/x-povray;inode/directory;' "$D_APP"
check "the type of a .pov is known (the MIME database under the prefix)" \
	sh -c "grep -q 'text/x-povray' '$P/share/mime/globs2' && grep -q 'text/x-povray' '$P/share/applications/mimeinfo.cache'"
check "nothing of it in /etc (PREFIX is not /usr)" [ ! -e "$P/etc" ]
# the programs find each other where they were installed, not in the tree
knows_prefix() {
	strings "$P/sbin/watcherd" | grep -q "^$P/lib/hotfarm\$" &&
		strings "$P/sbin/render-agent" | grep -q "^$P/lib/hotfarm\$" &&
		strings "$P/bin/hotfarm" | grep -q "^$P/share/hotfarm/conf\$" &&
		! strings "$P/sbin/watcherd" "$P/sbin/render-agent" "$P/bin/hotfarm" | grep -q "^$HF_ROOT/"
}
check "the programs know where they were installed (and not the source tree)" knows_prefix

# the man pages: each renders without a warning and names itself
for m in man1/hotfarm.1 man8/watcherd.8 man8/render-agent.8 man5/hotfarm.ini.5 man5/job.ini.5; do
	page=$(basename "$m")
	groff -man -Tutf8 -P-cbou -ww "$P/share/man/$m" >"$T/$page.txt" 2>"$T/$page.warn"
	check "man page $page renders without warnings" [ $? -eq 0 -a ! -s "$T/$page.warn" ]
	check "and starts with its NAME section" grep -q "^NAME" "$T/$page.txt"
done
check "man finds them under the prefix" sh -c "MANPATH='$P/share/man' man -w watcherd | grep -q '$P/share/man/man8/watcherd.8'"

# the units, as installed: the paths filled in, and systemd reads them
for u in watcherd render-agent; do
	unit=$P/lib/systemd/system/$u@.service
	check "$u@.service runs $P/sbin/$u" grep -q "^ExecStart=$P/sbin/$u --spool %f\$" "$unit"
	check "$u@.service reloads with SIGHUP and is hardened" \
		grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit"
	for h in NoNewPrivileges=yes ProtectSystem=strict 'ReadWritePaths=%f' PrivateTmp=yes 'CapabilityBoundingSet=$'; do
		check "  $u: $h" grep -q "^$h" "$unit"
	done
	systemd-analyze verify --man=no "$unit" >"$T/$u.verify" 2>&1
	rc=$?
	bad=$(head -3 "$T/$u.verify")
	check "systemd-analyze verify finds nothing wrong in $u@.service ($bad)" [ $rc -eq 0 -a -z "$bad" ]
done

# run from the prefix alone: what the units start, with the instance's %f
# (the spool) filled in; the tree's bin/ is not on PATH
exec_line() { sed -n "s|^$1=||p" "$P/lib/systemd/system/$2@.service" | sed "s|%f|$S|g"; }
S=$T/farm
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
unset HOTFARM_LIBEXECDIR HOTFARM_CONFDIR
"$P/bin/hotfarm" init "$S" >/dev/null
check "the installed hotfarm seeds a spool's conf/ from share/hotfarm/conf" \
	cmp -s "$P/share/hotfarm/conf/packages/povray.ini" "$S/conf/packages/povray.ini"
printf '[site]\nname = here\nfsync = no\n[agent]\nheartbeat = 1\n' >"$S/conf/hotfarm.ini"
$(exec_line ExecStart watcherd) 2>"$T/watcherd.log" &
W=$!
_pids="$_pids $W"
$(exec_line ExecStart render-agent) --name host1 2>"$T/agent.log" &
A=$!
_pids="$_pids $A"
SPOOL=$S
check "the installed watcherd starts" wait_for 10 test -f "$S/run/watcherd.pid"
check "the installed render-agent starts" wait_for 15 test -f "$S/hosts/host1/host.ini"
povray_job "$T/job" 1-2
drop_dir inst "$T/job"
check "a job dropped into the installed farm is rendered" wait_for 60 job_done inst
good=0
for f in 1 2; do
	"$P/lib/hotfarm/hf-check" "$S/jobs/inst/output/f_000$f.png" 64 48 >/dev/null 2>&1 && good=$((good + 1))
done
check "both frames are complete images ($good)" [ "$good" -eq 2 ]
check "rendered confined by the installed hf-confine" grep -q '^hf-confine: Landlock' "$S"/jobs/inst/logs/*

# "Send to hotfarm" on a .pov: the desktop file's Exec line as a file
# manager runs it (%F: the files chosen), with a default preset that gives
# a POV-Ray scene its frames
check "hotfarm init made the default preset's folder" [ -d "$S/inbox/default" ]
printf '[job]\nframes = 1-2\n[render]\nwidth = 64\nheight = 48\n' >"$S/conf/presets/default.ini"
mkdir -p "$T/artist"
write_scene "$T/artist/sent.pov"
exec_desktop=$(sed -n 's|^Exec=||p' "$D_APP" | head -n 1 | sed "s|%F|$T/artist/sent.pov|")
HOTFARM_SPOOL=$S $exec_desktop >"$T/sent.out" 2>"$T/sent.err"
check "its Exec line submits the file ($(cat "$T/sent.err"))" [ $? -eq 0 ]
check "and prints the job's name and its page" \
	sh -c "[ \"\$(sed -n 1p '$T/sent.out')\" = sent ] && [ \"\$(sed -n 2p '$T/sent.out')\" = '$S/jobs/sent/index.html' ]"
check "the job renders" wait_for 60 job_done sent
check "... with the default preset's frames (2)" [ "$(count "$S/jobs/sent/output")" -eq 2 ]
check "and its page is where hotfarm said" wait_for 30 test -f "$S/jobs/sent/index.html"

# systemctl reload: the units' ExecReload, with $MAINPID
reload() { MAINPID=$1 sh -c "$(sed -n 's|^ExecReload=||p' "$P/lib/systemd/system/watcherd@.service")"; }
sed -i 's/^name = here$/name = there/' "$S/conf/hotfarm.ini"
reload "$W"
check "reload: watcherd re-reads conf/hotfarm.ini (the new site name)" \
	wait_for 5 grep -q 'msg="re-read conf/hotfarm.ini (site there' "$T/watcherd.log"
printf '[agent]\nheartbeat = soon\n' >>"$S/conf/hotfarm.ini"
reload "$W"
reload "$A"
check "reload of a broken file: watcherd says what is wrong" \
	wait_for 5 grep -q 'level=warning prog=watcherd msg="conf/hotfarm.ini not re-read.*heartbeat' "$T/watcherd.log"
check "and the agent too" \
	wait_for 5 grep -q 'level=warning prog=render-agent msg="conf/hotfarm.ini not re-read.*heartbeat' "$T/agent.log"
check "both keep running on what they had" sh -c "kill -0 $W && kill -0 $A"
sed -i '/^heartbeat = soon$/d' "$S/conf/hotfarm.ini"
printf 'confine = no\n' >>"$S/conf/hotfarm.ini"
reload "$A"
check "reload: the agent re-reads it (confine no)" wait_for 5 grep -q 'msg="re-read conf/hotfarm.ini (heartbeat 1 s, confine no)' "$T/agent.log"
povray_job "$T/job2" 1
drop_dir inst2 "$T/job2"
check "and renders the next job as it now says: not confined" wait_for 60 job_done inst2
check "  (its log has no hf-confine line)" not_grep '^hf-confine:' "$S"/jobs/inst2/logs/*
kill -TERM "$A" "$W"
wait "$A" "$W" 2>/dev/null

mk uninstall PREFIX="$P" >"$T/uninstall.log" 2>&1
check "make uninstall PREFIX=… works" [ $? -eq 0 ]
left=$(find "$P" -type f | head -5)
check "and leaves no file behind ($left)" [ -z "$left" ]

# a packager: PREFIX=/usr staged in DESTDIR
D=$T/stage
mk install PREFIX=/usr DESTDIR="$D" >"$T/install-usr.log" 2>&1
check "make install PREFIX=/usr DESTDIR=… works" [ $? -eq 0 ]
check "the default configuration is also in /etc/hotfarm" \
	sh -c "cmp -s '$HF_ROOT/conf/hotfarm.ini' '$D/etc/hotfarm/hotfarm.ini' && cmp -s '$HF_ROOT/conf/packages/povray.ini' '$D/etc/hotfarm/packages/povray.ini'"
check "which the programs read: hotfarm init seeds from /etc/hotfarm" \
	sh -c "strings '$D/usr/bin/hotfarm' | grep -qx /etc/hotfarm"
check "the units go to /lib/systemd/system and run /usr/sbin" \
	grep -q '^ExecStart=/usr/sbin/watcherd --spool %f$' "$D/lib/systemd/system/watcherd@.service"
echo "# our studio's own defaults" >>"$D/etc/hotfarm/hotfarm.ini"
mk install PREFIX=/usr DESTDIR="$D" >"$T/install-usr2.log" 2>&1
check "a reinstall keeps an edited /etc/hotfarm/hotfarm.ini" grep -q "our studio" "$D/etc/hotfarm/hotfarm.ini"
check "and says so" grep -q 'kept /etc/hotfarm/hotfarm.ini (edited)' "$T/install-usr2.log"
mk uninstall PREFIX=/usr DESTDIR="$D" >"$T/uninstall-usr.log" 2>&1
check "make uninstall PREFIX=/usr DESTDIR=… works" [ $? -eq 0 ]
left=$(find "$D" -type f)
check "and leaves only the edited configuration ($left)" [ "$left" = "$D/etc/hotfarm/hotfarm.ini" ]
done_testing
