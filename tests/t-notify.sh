# t-notify.sh - mail to the artist: the [notify] command receives proper
# RFC 5322 messages (accepted; first samples with the contact sheet as a
# MIME image and how to cancel; progress; done with the billing), and each
# one is kept in jobs/NAME/notifications.log.
. "$(dirname "$0")/lib.sh"

new_spool
MAIL=$T/mail
mkdir -p "$MAIL"
cat >"$T/capture" <<SH
#!/bin/sh
# stands in for sendmail -t: keeps each message it is given
cat >"$MAIL/msg.\$(date +%s%N).\$\$"
SH
chmod +x "$T/capture"
printf '[notify]\ncommand = %s\nprogress = 1\n' "$T/capture" >>"$SPOOL/conf/hotfarm.ini"
start_watcherd
start_agent h1 --slots 2

povray_job "$T/anim" 1-16 320 240
# a process per frame (chunk = 1): the job renders for several seconds,
# long enough for progress messages a second apart
sed -i 's/^\[job\]$/[job]\nemail = artist@example.com\nchunk = 1/' "$T/anim/job.ini"
drop_dir anim "$T/anim"
povray_job "$T/quiet" 1-2
drop_dir quiet "$T/quiet"
check "the job renders" wait_for 120 job_done anim
final_sent() { grep -q '^=== final ' "$SPOOL/jobs/anim/notifications.log" 2>/dev/null; }
check "the last notice goes out" wait_for 20 final_sent
wait_for 20 job_done quiet

cat >"$T/check.py" <<'PY'
import email, email.policy, glob, sys
msgs = []
for path in sorted(glob.glob(sys.argv[1] + "/msg.*")):
    with open(path, "rb") as f:
        msgs.append(email.message_from_binary_file(f, policy=email.policy.default))
kind = sys.argv[2]
def subject(m): return str(m["Subject"])
for m in msgs:
    for h in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        assert m[h], f"{h} missing in {subject(m)}"
    assert str(m["To"]) == "artist@example.com", m["To"]
    assert "quiet" not in subject(m), "a job without email got mail"
if kind == "accepted":
    m = [m for m in msgs if "accepted" in subject(m)]
    assert len(m) == 1, [subject(x) for x in msgs]
    assert "16 frames" in m[0].get_content()
elif kind == "samples":
    m = [m for m in msgs if "first samples" in subject(m)]
    assert len(m) == 1, [subject(x) for x in msgs]
    m = m[0]
    assert m.get_content_type() == "multipart/mixed"
    parts = list(m.iter_parts())
    text = parts[0].get_content()
    assert "hotfarm cancel anim" in text and "cancel/" in text, text
    img = [p for p in parts if p.get_content_type() == "image/png"]
    assert len(img) == 1 and img[0].get_filename() == "anim-contact.png"
    data = img[0].get_content()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    open(sys.argv[3], "wb").write(data)
elif kind == "progress":
    assert any(" of 16 frames" in subject(m) and "samples" not in subject(m) for m in msgs), [subject(x) for x in msgs]
elif kind == "final":
    m = [m for m in msgs if subject(m) == "[hotfarm] anim done"]
    assert len(m) == 1, [subject(x) for x in msgs]
    body = m[0].get_content()
    assert "all 16 frames rendered" in body and "frames = 16" in body and "cpu_user_seconds" in body, body
PY
check "an 'accepted' message with the RFC 5322 headers" python3 "$T/check.py" "$MAIL" accepted
check "a 'first samples' message with the contact sheet attached and how to cancel" python3 "$T/check.py" "$MAIL" samples "$T/attached.png"
check "the attachment decodes as the contact sheet" sh -c "python3 '$HF_ROOT/tests/pngpixels.py' '$T/attached.png' | grep -q '^1312x'"
check "progress messages while it renders" python3 "$T/check.py" "$MAIL" progress
check "a 'done' message with a summary and the billing" python3 "$T/check.py" "$MAIL" final
L=$SPOOL/jobs/anim/notifications.log
check "every notice is in notifications.log" sh -c "grep -q '^=== accepted ' '$L' && grep -q '^=== samples ' '$L' && grep -q '^=== final ' '$L'"
n=$(ls "$MAIL" | wc -l)
m=$(grep -c '^=== ' "$L")
check "as many logged as sent ($m and $n)" [ "$m" -eq "$n" ]
check "a job without an email gets no mail and no log" [ ! -e "$SPOOL/jobs/quiet/notifications.log" ]
done_testing
