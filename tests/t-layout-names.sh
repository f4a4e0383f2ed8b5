# t-layout-names.sh - layout/ is the one owner of the spool's names and
# moves: no spool file or folder name appears as a string literal in C
# outside layout/, nothing outside it renames, and nothing outside it opens
# below a folder descriptor but through its seam (open_beneath and the calls
# built on it). Fails naming each line.
. "$(dirname "$0")/lib.sh"
cd "$HF_ROOT" || exit 111

# the folders of the tree: top, state, a job's own, tickets', sites'
DIRS='inbox|rejected|jobs|cancel|requests|answers|hosts|limits|sites|status|conf|work|run|new|queue|held|outsourced|done|failed'
DIRS="$DIRS|cancelled|frames|todo|active|output|previews|logs|files|blocked|failures|store|in|out|\\.basis|\\.incoming"
# its files, whose names say what they are wherever they appear
FILES='job\.ini|status\.ini|status\.lock|billing\.(ini|lock)|sizes\.(ini|lock)|traffic(\.lock)?|notifications\.log|index\.html|reason\.txt|result\.ini'
FILES="$FILES|host\\.ini|heartbeat|agent\\.lock|intake\\.pending|hotfarm\\.ini|watcherd\\.(pid|lock|log)|audit\\.log|contact\\.png"
FILES="$FILES|(slot|kill)\\.%d|farm\\.counts"
# 1. a path with a folder of the tree as one of its parts: "frames/todo",
#    "logs/%s", "%s/out", "blocked/%s" (not an absolute path: /proc/N/status
#    is the system's)
PATHS="\"([^\"/ ][^\" ]*/)?($DIRS)/[^\" ]*\"|\"[^\"/ ][^\" ]*/($DIRS)\""
# 2. a file of the tree, alone or at the end of a path
NAMED="\"([^\" ]*/)?($FILES)\""
# 3. a folder or marker of the tree handed to a call that opens, lists,
#    makes or removes files: dir_open(jfd, "previews"), site_dir_open(.., "in")
CALLS='(open|openat|dir_open|dir_names|dir_walk|dir_has_names|site_dir_open|fstatat|faccessat|unlinkat|mkdirat'
CALLS="$CALLS|file_read_small|file_write_atomic|ini_load|place_tree|tar_tree|tar_one|write_page)"
ARGS="$CALLS\\([^;]*\"($DIRS|lost|drain)\""
src=$(git ls-files '*.c' | grep -vE '^(layout|tests|bench)/')
hits=$(grep -nE "$PATHS|$NAMED|$ARGS" $src | grep -vE '^[^:]*:[0-9]+:\s*(/?\*|//)')
n=$(printf '%s' "$hits" | grep -c .)
check "no spool name is a string literal outside layout/ ($n found)" [ "$n" -eq 0 ]
[ "$n" -eq 0 ] || printf '%s\n' "$hits" | head -n 200 | sed 's/^/# /'
raw=$(grep -nE '\b(rename|renameat|renameat2)\(' $src | grep -v '^wrapper/')
check "no rename outside layout/" [ -z "$raw" ]
[ -z "$raw" ] || printf '%s\n' "$raw" | sed 's/^/# /'
opens=$(grep -nE '\b(openat|openat2)\(' $src | grep -v '^wrapper/')
check "no open below a folder descriptor outside layout/ (its seam resolves beneath, through no link)" [ -z "$opens" ]
[ -z "$opens" ] || printf '%s\n' "$opens" | sed 's/^/# /'
done_testing
