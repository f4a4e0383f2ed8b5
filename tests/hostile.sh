# hostile.sh SPOOL VICTIM OUTPUT - a render that attacks the farm through
# its own job folder (run by the command package from the job's files/):
# FIFO tickets, symlinked logs/, frames/ and previews/, edits of job.ini,
# status.ini, tickets and notifications.log, a lock on status.lock. Each
# attempt that worked prints "ESCAPED what"; then it makes its image.
S=$1 V=$2 OUT=$3
J=$(cd .. && pwd)
try() { # WHAT COMMAND...: ESCAPED when COMMAND did it
	_w=$1; shift
	if ("$@") 2>/dev/null; then echo "ESCAPED $_w"; else echo "blocked $_w"; fi
}
fifo_own() { mkfifo ../frames/todo/000000-0000099; }
fifo_victim() { mkfifo "$S/jobs/$V/frames/todo/000000-0000099"; }
logs_link() { mv ../logs ../logs.old && ln -s "$S/limits" ../logs; }
frames_link() { mv ../frames ../frames.old && ln -s "$S/jobs/$V/frames" ../frames; }
previews_link() { mv ../previews ../previews.old && ln -s /etc ../previews; }
previews_swap() { mkdir -p ../previews && ln -s /etc/passwd ../previews/frame0000001.png; }
desc_edit() { printf '[notify]\nemail = evil@example.com\n' >>../job.ini; }
status_edit() { printf 'state = "done"\n' >>../status.ini; }
ticket_edit() { for t in ../frames/active/*; do printf 'billing = 0\n' >>"$t" || return 1; done; }
ticket_take() { mv ../frames/todo/* ../frames/done/; }
notices_gone() { rm ../notifications.log || : >../notifications.log; }
output_fake() { echo fake >../output/f_0042.png; }
lock_status() { exec 9>>../status.lock; }
page_edit() { echo '<script>alert(1)</script>' >>../index.html; }
victim_output() { echo fake >"$S/jobs/$V/output/f_0001.png"; }
limits_token() { echo x >"$S/limits/lic/stolen"; }
try "a FIFO among its own tickets" fifo_own
try "a FIFO among another job's tickets" fifo_victim
try "logs/ made a link to limits/" logs_link
try "frames/ made a link to another job's" frames_link
try "previews/ made a link to /etc" previews_link
try "a link to /etc/passwd in previews/" previews_swap
try "job.ini edited (a mail address)" desc_edit
try "status.ini edited" status_edit
try "its tickets edited (billing)" ticket_edit
try "its tickets moved to done/" ticket_take
try "notifications.log removed" notices_gone
try "a file of its own in output/" output_fake
try "status.lock opened (to hold it)" lock_status
try "index.html edited" page_edit
try "another job's output written" victim_output
try "a licence token made" limits_token
try "its job folder listed" ls "$J"
echo "uid $(id -u)"
cp "$J/files/in.png" "$OUT"
