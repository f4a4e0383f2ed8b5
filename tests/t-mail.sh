# t-mail.sh - mail goes only to a job's owner (issue 18). A job dropped by
# the farm's user or root is a submitter's: its job.ini's email is believed.
# One an artist dropped is the artist's: its notices go to the artist's own
# address ([addresses] entry, else the [notify] address template), and an
# email in its job.ini is ignored, with one warning. [notify] any_address
# = yes mails job.ini's email whoever dropped the job. An owner without an
# address gets no mail and one warning naming the setting. A [notify]
# address that is not one mail address is refused, naming its line.
# The artists' drops need root (users alice, bob, wrangler); skipped
# without it.
. "$(dirname "$0")/lib.sh"
. "$HF_ROOT/tests/users.sh"

# ---- a template that is not one mail address ------------------------------------------
new_spool bad
n=$(wc -l <"$SPOOL/conf/hotfarm.ini")
printf '[notify]\naddress = a b@x\n' >>"$SPOOL/conf/hotfarm.ini"
hotfarm status >"$T/bad.out" 2>&1
rc=$?
check "a [notify] address with a blank is refused (hotfarm status exits $rc)" [ $rc -eq 111 ]
check "naming its line" grep -q "conf/hotfarm.ini line $((n + 2)): \[notify\] address must be one mail address.*not 'a b@x'" "$T/bad.out"
# (a watcherd that took it would run on: the deadline stops it)
timeout 10 watcherd --spool "$SPOOL" >"$T/bad.watcherd" 2>&1
rc=$?
check "watcherd refuses it too (exit $rc)" sh -c "[ $rc -eq 111 ] && grep -q 'line $((n + 2)): \[notify\] address' '$T/bad.watcherd'"
sed -i 's/^address = .*/address = %u@studio.example/' "$SPOOL/conf/hotfarm.ini"
printf '[addresses]\nalice = a.smith@studio.example, boss@elsewhere.example\n' >>"$SPOOL/conf/hotfarm.ini"
hotfarm status >"$T/bad.out" 2>&1
check "an [addresses] entry of two addresses is refused, naming its line" \
	grep -q "conf/hotfarm.ini line $((n + 4)): \[addresses\] alice must be one mail address" "$T/bad.out"

# ---- the farm ------------------------------------------------------------------------------
new_spool
cp "$SPOOL/conf/hotfarm.ini" "$T/base.ini"
MAIL=$T/mail
mkdir -p "$MAIL"
cat >"$T/capture" <<SH
#!/bin/sh
# stands in for sendmail -t: keeps each message it is given
cat >"$MAIL/msg.\$(date +%s%N).\$\$"
SH
chmod +x "$T/capture"
# mail_conf LINES: the spool's configuration is the test's base, then
# [notify] with the capture command and LINES (printf's format), replaced
# with one rename: hf-notify reads it each time it runs
mail_conf() {
	{ cat "$T/base.ini"; printf '[notify]\ncommand = %s\nprogress = 0\n' "$T/capture"; printf "$1"; } >"$T/conf.new" &&
		mv "$T/conf.new" "$SPOOL/conf/hotfarm.ini"
}
mail_conf 'address = %%u@studio.example\n[addresses]\nbob = robert.b@studio.example\n'
start_watcherd
start_agent h1 --slots 2

# mail_job NAME EMAIL: a one-frame job NAME (archive and .ini in $T/src)
# whose job.ini asks for mail to EMAIL
mail_job() {
	FRAMES=1 make_job "$T/src" "$1"
	sed -i "s/^\[job\]\$/[job]\nemail = $2/" "$T/src/$1.ini"
	tar -C "$T/src/$1.d" -cf "$T/src/$1.tar" .
}
# drop_as USER NAME: USER copies job NAME into inbox/ the careful way
# (archive first, .ini last, each under a hidden name, then renamed)
drop_as() {
	set -- "$1" "$T/src/$2" "$SPOOL/inbox" "$2"
	_drop='cp "$1.tar" "$2/.$3.tar" && mv "$2/.$3.tar" "$2/$3.tar" && cp "$1.ini" "$2/.$3.ini" && mv "$2/.$3.ini" "$2/$3.ini"'
	if [ "$1" = "$(id -un)" ]; then sh -c "$_drop" sh "$2" "$3" "$4"; else as "$1" sh -c "$_drop" sh "$2" "$3" "$4"; fi
}
# notices_logged NAME...: each job's notices were dealt with (sent, or
# logged as not sent): accepted, the first samples and the final one, which
# may come before the samples
notices_logged() {
	for _j; do
		for _e in accepted samples final; do
			grep -q "^=== $_e " "$SPOOL/jobs/$_j/notifications.log" 2>/dev/null || return 1
		done
	done
}
cat >"$T/mailed.py" <<'PY'
# mailed.py MAILDIR JOB ADDRESS...: every message about JOB went to exactly
# these addresses (none: no message about it)
import email, email.policy, glob, sys
to = set()
for path in glob.glob(sys.argv[1] + "/msg.*"):
    with open(path, "rb") as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    if str(m["X-Hotfarm-Job"]) == sys.argv[2]:
        to.add(str(m["To"]))
if to != set(sys.argv[3:]):
    print("# mail about %s went to %s, not %s" % (sys.argv[2], sorted(to), sorted(sys.argv[3:])))
    sys.exit(1)
PY
mailed() { python3 "$T/mailed.py" "$MAIL" "$@"; }
# warned TEXT: how many lines of the daemons' log hold TEXT
warned() { grep -cF -- "$1" "$SPOOL.watcherd.log"; }
# owner_by NAME: how intake established the job's owner ([owner] by)
owner_by() { sed -n '/^\[owner\]/,/^\[/s/^by = //p' "$SPOOL/jobs/$1/job.ini" 2>/dev/null; }

# ---- dropped by the farm's user: job.ini's email is believed -------------------------------
mail_job byfarm boss@elsewhere.example
drop_as "$(id -un)" byfarm
check "a job the farm's user dropped is done, its notices dealt with" wait_for 90 notices_logged byfarm
check "its mail goes to job.ini's email, as before" mailed byfarm boss@elsewhere.example

if ! [ "$(id -u)" = 0 ] || ! test_users; then
	diag "skipped: the artists' drops (alice, bob, wrangler) need root"
	done_testing
fi
# the artists may drop into inbox/
hotfarm init --group artists "$SPOOL" >/dev/null

# ---- dropped by artists: their own address, job.ini's email ignored once -------------------
mail_job byalice boss@elsewhere.example
mail_job bybob boss@elsewhere.example
drop_as alice byalice
drop_as bob bybob
check "alice's and bob's jobs are done, their notices dealt with" wait_for 90 notices_logged byalice bybob
by=$(owner_by byalice)
check "intake made alice the owner of the job she dropped ([owner] by = '$by')" [ "$by" = file ]
check "alice's job is mailed to alice@studio.example alone (the template)" mailed byalice alice@studio.example
check "bob's job is mailed to his [addresses] entry alone" mailed bybob robert.b@studio.example
n=$(grep -c '^=== .* to ' "$SPOOL/jobs/byalice/notifications.log")
check "several notices went out for alice's job ($n)" [ "$n" -ge 3 ]
w=$(warned "byalice: job.ini's email 'boss@elsewhere.example' is ignored, mail goes to its owner alice at alice@studio.example ([notify] any_address = yes allows other addresses)")
check "the ignored email is warned about once for the job ($w)" [ "$w" -eq 1 ]

# ---- an owner without an address: no mail, one warning naming the setting ----------------
mail_conf '[addresses]\nbob = robert.b@studio.example\n'
mail_job nowhere boss@elsewhere.example
drop_as wrangler nowhere
check "wrangler's job is done, its notices dealt with" wait_for 90 notices_logged nowhere
check "it got no mail" mailed nowhere
n=$(grep -c '^=== .* not sent: no mail address for wrangler: set \[notify\] address' "$SPOOL/jobs/nowhere/notifications.log")
check "its notices are logged as not sent, saying why ($n)" [ "$n" -eq 3 ]
w=$(warned "nowhere: no mail: no mail address for wrangler: set [notify] address = %u@your.domain or an [addresses] entry")
check "one warning names the setting ($w)" [ "$w" -eq 1 ]

# ---- any_address = yes: job.ini's email, whoever dropped the job ----------------------------
mail_conf 'address = %%u@studio.example\nany_address = yes\n'
mail_job anyaddr boss@elsewhere.example
drop_as alice anyaddr
check "with any_address = yes alice's next job is done" wait_for 90 notices_logged anyaddr
check "and mailed to job.ini's email" mailed anyaddr boss@elsewhere.example
check "without a warning" [ "$(warned "anyaddr: job.ini's email")" -eq 0 ]
done_testing
