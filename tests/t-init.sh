# t-init.sh - hotfarm init makes every folder of the spool tree, repairs a
# damaged spool and never deletes or overwrites anything.
. "$(dirname "$0")/lib.sh"

S=$T/site
hotfarm init "$S" >"$T/out" 2>&1
check "init exits 0" [ $? -eq 0 ]
missing=""
for d in inbox rejected jobs new queue held outsourced done failed cancelled cancel hosts limits sites status conf conf/packages; do
	[ -d "$S/$d" ] || missing="$missing $d"
done
check "every folder of the spool tree exists (missing:$missing)" [ -z "$missing" ]
check "conf/ is seeded from the repository" cmp -s "$S/conf/hotfarm.ini" "$HF_ROOT/conf/hotfarm.ini"
check "the POV-Ray package is there" [ -f "$S/conf/packages/povray.ini" ]

hotfarm init "$S" >"$T/out2" 2>&1
check "init on a complete spool says nothing needs repair" grep -q "nothing to repair" "$T/out2"

# damage it: remove folders, keep a job and an edited config
rmdir "$S/queue" "$S/cancel"
mkdir -p "$S/jobs/keepme" && echo precious >"$S/jobs/keepme/file"
echo "# edited by the admin" >>"$S/conf/hotfarm.ini"
echo stray >"$S/inbox/stray.txt"
hotfarm init "$S" >"$T/out3" 2>&1
check "init repairs missing folders" [ -d "$S/queue" -a -d "$S/cancel" ]
check "init reports what it repaired" grep -q "created queue" "$T/out3"
check "init never deletes a job" [ "$(cat "$S/jobs/keepme/file")" = precious ]
check "init never overwrites the admin's configuration" grep -q "edited by the admin" "$S/conf/hotfarm.ini"
check "init leaves the inbox alone" [ -f "$S/inbox/stray.txt" ]

echo notadir >"$T/file"
hotfarm init "$T/file/x" >/dev/null 2>"$T/err"
rc=$?
check "init on an impossible path fails with 111 and a message" [ $rc -eq 111 -a -s "$T/err" ]

HOTFARM_SPOOL=$T/envspool hotfarm init >/dev/null 2>&1
check "init without DIR uses \$HOTFARM_SPOOL" [ -d "$T/envspool/queue" ]
done_testing
