# bench/xsite.sh - sourced by bench/run: a second shot under another name
# sent to a linked site that holds the first. 50 textures of 1 MB; the
# second shot has one new texture and a few scene lines changed. Sets
# XSITE_* for the table; every figure measured in this run.
xsite_send() { # NAME: drop the shot at a, outsource it to b, push; b takes it in
	tar -C "$X/seq" -cf "$X/a/inbox/.$1.tar" . && mv "$X/a/inbox/.$1.tar" "$X/a/inbox/$1.tar"
	"$ROOT/bin/hf-intake" --spool "$X/a" --landed "$1.tar" >/dev/null 2>&1
	"$ROOT/bin/hf-route" --spool "$X/a" 2>/dev/null
	"$ROOT/bin/hotfarm" --spool "$X/a" outsource "$1" b >/dev/null
	"$ROOT/bin/hotfarm" --spool "$X/a" sync b 2>/dev/null |
		sed -n 's/.* sent, \([0-9]*\) bytes on the wire out, \([0-9]*\) in.*/\1 \2/p' | awk '{ print $1 + $2 }'
	"$ROOT/bin/hf-collect" --spool "$X/b" a >/dev/null 2>&1
}
xsite_run() {
	X=$W/xsite
	mkdir -p "$X/seq/tex"
	for i in $(seq 1 50); do head -c 1048576 /dev/urandom >"$X/seq/tex/t$i.bin"; done
	cp examples/orbit/scene.pov "$X/seq/scene.pov"
	printf '[job]\nframes = 1-48\n[render]\nscene = scene.pov\n' >"$X/seq/job.ini"
	for s in a b; do "$ROOT/bin/hotfarm" init "$X/$s" >/dev/null; done
	printf '[site]\nname = a\nfsync = no\n[site b]\ntransport = %s --spool %s sync --serve --peer a\n' \
		"$ROOT/bin/hotfarm" "$X/b" >"$X/a/conf/hotfarm.ini"
	printf '[site]\nname = b\nfsync = no\n[site a]\ntransport = %s --spool %s sync --serve --peer b\n' \
		"$ROOT/bin/hotfarm" "$X/a" >"$X/b/conf/hotfarm.ini"
	XSITE_FIRST=$(xsite_send seqa)
	cp -a "$X/seq" "$X/rs-dst" # what rsync's other end holds: the first shot as it was
	head -c 1048576 /dev/urandom >"$X/seq/tex/t50.bin"
	sed -i 's/rgb <1, 0.25, 0.2>/rgb <0.2, 0.8, 0.3>/; s/specular 0.6/specular 0.4/' "$X/seq/scene.pov"
	XSITE_WIRE=$(xsite_send seqb)
	XSITE_SIZE=$(stat -c %s "$X/b/sites/a/.basis/seqb.job.tar")
	# rsync of the second shot's folder onto the first's, over a pipe (as
	# over ssh): only the changed files go, each as a delta
	rsync -a --no-whole-file --stats -e "sh -c 'shift; exec \"\$@\"' --" "$X/seq/" "x:$X/rs-dst/" >"$X/rsync.stats" 2>&1
	XSITE_RSYNC=$(awk -F': ' '/Total bytes sent/ { gsub(",", "", $2); s = $2 } /Total bytes received/ { gsub(",", "", $2); r = $2 } END { print s + r }' "$X/rsync.stats")
	XSITE_HELD=$(ls "$X/b/store"/*/ 2>/dev/null | grep -c '^[0-9a-f]')
	rm -rf "$X"
}
