# bench/assets.sh - sourced by bench/run: shots that share their textures,
# taken in one after the other on one spool (store/), against one copy.
# Sets ASSET_* for the table; every figure measured in this run.
ASSET_SHOTS=$(n 20 5)
ASSET_TEXMB=$(n 100 10) # each of the 50 textures: full 5 GB in all, quick 500 MB
asset_shot() { # NAME: the shared textures, a scene and 1 MB of its own, packed
	mkdir -p "$W/assets/$1"
	head -c 1048576 /dev/urandom >"$W/assets/$1/own.bin"
	printf 'camera { location <0, 1, -4> look_at <0, 0, 0> }\n// %s\n' "$1" >"$W/assets/$1/scene.pov"
	printf '[job]\nframes = 1\n[render]\nscene = scene.pov\n' >"$W/assets/$1/job.ini"
	ln -sfn "$W/assets/tex" "$W/assets/$1/maps"
	tar -C "$W/assets/$1" -chf "$W/assets/$1.tar" .
}
asset_drop() { # SPOOL NAME: the ms from its landing to its entry in queue/
	mv "$W/assets/$2.tar" "$1/inbox/.$2.tar"
	t0=$(stamp_ns)
	mv "$1/inbox/.$2.tar" "$1/inbox/$2.tar"
	wait_state "$1" queue "$2"
	echo $((($(entered_ns "$1" queue) - t0) / 1000000))
}
assets_run() {
	mkdir -p "$W/assets/tex" "$W/disk"
	for i in $(seq 1 50); do head -c $((ASSET_TEXMB * 1048576)) /dev/urandom >"$W/assets/tex/t$i.bin"; done
	# no agent: the shots stay queued, each holding its files
	farm_spool "$W/disk/assets" '[site]\nfsync = no'
	: >"$W/assets/intake.ms"
	for s in $(seq 1 "$ASSET_SHOTS"); do
		asset_shot "shot$s"
		asset_drop "$FS" "shot$s" >>"$W/assets/intake.ms"
		rm -rf "$W/assets/shot$s.tar"
	done
	ASSET_DISK=$(du -s -B1 "$FS/jobs" "$FS/store" | awk '{ s += $1 } END { printf "%.0f", s }')
	# one copy of the textures, and each shot's own files (the last's, each time)
	tex=$(du -s -B1 "$W/assets/tex" | cut -f1)
	own=$(du -s -B1 -L --exclude=maps "$W/assets/shot$ASSET_SHOTS" | cut -f1)
	ASSET_ONE=$((tex + ASSET_SHOTS * own))
	ASSET_MS=$(median "$W/assets/intake.ms")
	stop_all
	rm -rf "$W/disk/assets"
	# the same shot taken in with dedupe = no: what hashing and linking cost
	farm_spool "$W/disk/assets-plain" '[site]\nfsync = no\n[intake]\ndedupe = no'
	asset_shot plain
	ASSET_PLAIN_MS=$(asset_drop "$FS" plain)
	stop_all
	rm -rf "$W/disk/assets-plain" "$W/assets"
}
