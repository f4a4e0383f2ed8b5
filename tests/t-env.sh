#!/bin/sh
# t-env.sh - [env] in a job.ini and in a package's .ini reaches the render:
# the package's values first, the job's over them, names keeping their case;
# a job may not set what its package fixes, PATH unless the package allows
# it, LD_*, HOTFARM_* or TMPDIR, nor names that are no variable names: each
# such job is in rejected/ with a reason naming the variable, and so is one
# a linked site sends.
. "$(dirname "$0")/lib.sh"

new_spool
# envcmd: the command package with variables of its own, two fixed
cat >"$SPOOL/conf/packages/envcmd.ini" <<'INI'
[package]
description = "a command, with the studio's variables"
version = 1
env_fixed = OCIO, LOCKED_*
[render]
argv = "{args}"
[env]
OCIO = /studio/ocio/config.ocio
PKG_ONLY = from-package
SHARED = package-value
INI
# envpath: the same, and a job may set PATH
sed 's/^env_fixed = .*/env_path = yes/' "$SPOOL/conf/packages/envcmd.ini" >"$SPOOL/conf/packages/envpath.ini"
start_watcherd
start_agent a --slots 1

# env_job NAME PACKAGE [ENV-LINES...]: one frame whose command prints its
# environment into the frame's log, then copies the input as the frame
env_job() {
	_jn=$1 _pk=$2; shift 2
	mkdir -p "$T/$_jn"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/$_jn/in.png" 64 48
	{
		printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = %s\nscene = in.png\nwidth = 64\nheight = 48\n' "$_pk"
		printf 'output = "e_####.png"\nargs = sh -c '"'"'env; exec cp $0 $1'"'"' {files}/in.png {output}\n[env]\n'
		for l in "$@"; do echo "$l"; done
	} >"$T/$_jn/job.ini"
	drop_dir "$_jn" "$T/$_jn"
}

env_job envjob envcmd 'SHARED = job-value' 'MyVar = "Mixed Case; kept #1"' "JOB_ONLY = 'say \"hi\"'"
env_job fixed envcmd 'OCIO = /home/me/my.ocio'
env_job fixedpat envcmd 'LOCKED_THING = 1'
env_job preload envcmd 'LD_PRELOAD = /tmp/evil.so'
env_job libpath envcmd 'ld_library_path = /tmp'
env_job hfvar envcmd 'HOTFARM_X = 1'
env_job tmpdir envcmd 'TMPDIR = /tmp'
env_job path envcmd 'PATH = /tmp/bin:/usr/bin:/bin'
env_job pathok envpath 'PATH = /usr/bin:/bin'
env_job digit envcmd '1FOO = x'
env_job dash envcmd 'MY-VAR = x'
i=0 many=""
while [ $i -le 64 ]; do many="$many V$i=$i"; i=$((i + 1)); done
# shellcheck disable=SC2086 # a line each
env_job many envcmd $many

# reason_has NAME TEXT: rejected/NAME/reason.txt's first line holds TEXT
reason_has() { rejected "$1" && reason "$1" | grep -qF -- "$2"; }
for spec in "fixed|[env] may not set OCIO: package envcmd fixes it" \
	"fixedpat|[env] may not set LOCKED_THING: package envcmd fixes it" \
	"preload|[env] may not set LD_PRELOAD: LD_ variables steer the dynamic loader" \
	"libpath|[env] may not set ld_library_path" \
	"hfvar|[env] may not set HOTFARM_X: HOTFARM_ variables are the farm's own" \
	"tmpdir|[env] may not set TMPDIR" \
	"path|[env] may not set PATH: package envcmd does not allow it (an admin allows it with env_path = yes" \
	"digit|'1FOO' in [env] is not an environment variable name" \
	"dash|'MY-VAR' in [env] is not an environment variable name" \
	"many|[env] sets more than 64 variables"; do
	n=${spec%%|*} want=${spec#*|}
	wait_for 30 rejected "$n"
	check "job $n is rejected: $want ($(reason "$n"))" reason_has "$n" "$want"
done
check "no rejected job reached jobs/" sh -c "! ls '$SPOOL/jobs' | grep -qx -e fixed -e preload -e hfvar -e path -e many"

check "the job with allowed variables renders (done)" wait_for 60 job_done envjob
LOG=$(ls "$SPOOL/jobs/envjob/logs/"frame0001.try1.* 2>/dev/null | head -1)
has() { grep -qxF -- "$1" "$LOG"; }
check "the job's variable reaches the render, its name's case kept" has "MyVar=Mixed Case; kept #1"
check "… and one with quotes in its value" has "JOB_ONLY=say \"hi\""
check "the package's variables reach it" has "PKG_ONLY=from-package"
check "… a fixed one with the package's value" has "OCIO=/studio/ocio/config.ocio"
check "the job's value wins over the package's" sh -c "grep -qx 'SHARED=job-value' '$LOG' && ! grep -q '^SHARED=package' '$LOG'"
check "the agent's HOTFARM_SLOT and TMPDIR are still its own" \
	sh -c "grep -q '^HOTFARM_SLOT=a\\.' '$LOG' && grep -q '^TMPDIR=/.*' '$LOG' && ! grep -q '^TMPDIR=/tmp\$' '$LOG'"
check "job.ini as intake wrote it keeps [env] with the names' case" \
	sh -c "grep -qx '\\[env\\]' '$SPOOL/jobs/envjob/job.ini' && grep -qx 'MyVar = \"Mixed Case; kept #1\"' '$SPOOL/jobs/envjob/job.ini'"
hotfarm status --json envjob >"$T/status.json" 2>&1
check "hotfarm status --json shows the job's variables ($(head -c 300 "$T/status.json"))" \
	grep -qF '"env":{"SHARED":"job-value","MyVar":"Mixed Case; kept #1","JOB_ONLY":"say \"hi\""}' "$T/status.json"

check "PATH from the job reaches the render when the package allows it" wait_for 60 job_done pathok
LOG=$(ls "$SPOOL/jobs/pathok/logs/"frame0001.try1.* 2>/dev/null | head -1)
check "… as the job gave it" grep -qx 'PATH=/usr/bin:/bin' "$LOG"

# ---- a job.ini in an archive dropped into a preset's folder: merged with the preset, [env] as written ---------
cat >"$SPOOL/conf/presets/envpre.ini" <<'INI'
[job]
frames = 1
retries = 0
[render]
package = envcmd
width = 64
height = 48
output = "p_####.png"
args = sh -c 'env; exec cp $0 $1' {files}/in.png {output}
INI
hotfarm init "$SPOOL" >/dev/null 2>&1
# pre_drop NAME ENV-LINE: an archive of in.png and a job.ini giving the scene and ENV-LINE
pre_drop() {
	mkdir -p "$T/pre-$1"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/pre-$1/in.png" 64 48
	printf '[render]\nscene = in.png\n[env]\n%s\n' "$2" >"$T/pre-$1/job.ini"
	tar -C "$T/pre-$1" -cf "$T/$1.tar" . && mv "$T/$1.tar" "$SPOOL/inbox/envpre/.$1.tar" &&
		mv "$SPOOL/inbox/envpre/.$1.tar" "$SPOOL/inbox/envpre/$1.tar"
}
pre_drop pregood 'PresetVar = from the drop'
pre_drop prebad 'LD_AUDIT = /tmp/evil.so'
check "a preset drop's job.ini with [env] renders (done)" wait_for 60 job_done pregood
LOG=$(ls "$SPOOL/jobs/pregood/logs/"frame0001.try1.* 2>/dev/null | head -1)
check "… its variable reaches the render with its case" grep -qx 'PresetVar=from the drop' "$LOG"
wait_for 30 rejected prebad
check "a preset drop's job.ini setting LD_AUDIT is rejected ($(reason prebad))" reason_has prebad "may not set LD_AUDIT"

# ---- a linked site's job is held to the same rules ---------------------------------------------------------
stop_pids
_pids=""
site b
site peer
link peer b
link b peer
SPOOL=$T/b
cp "$T/spool/conf/packages/envcmd.ini" "$SPOOL/conf/packages/"
start_watcherd
# peer_job NAME ENV-LINE: a job as peer's hf-send packs it, put straight
# into b's sites/peer/in/ (a hostile or broken peer checks nothing)
peer_job() {
	mkdir -p "$T/p-$1"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/p-$1/in.png" 64 48
	printf '[job]\nframes = 1\n[render]\npackage = envcmd\nscene = in.png\nargs = cp {files}/in.png {output}\n[env]\n%s\n' \
		"$2" >"$T/p-$1/job.ini"
	tar -C "$T/p-$1" -cf "$SPOOL/sites/peer/in/.$1.job.tar" . && mv "$SPOOL/sites/peer/in/.$1.job.tar" "$SPOOL/sites/peer/in/$1.job.tar"
}
peer_job pload 'LD_PRELOAD = /tmp/evil.so'
peer_job pfixed 'OCIO = /peer/ocio'
peer_job pgood 'MyVar = peer'
peer_reason() { head -n 1 "$SPOOL/sites/peer/rejected/$1/reason.txt" 2>/dev/null | grep -qF -- "$2"; }
check "a peer's job setting LD_PRELOAD is rejected, naming it" wait_for 30 peer_reason pload "may not set LD_PRELOAD"
check "a peer's job setting a fixed name is rejected, naming it" wait_for 30 peer_reason pfixed "may not set OCIO"
check "a peer's job with a variable it may set is taken in, the name's case kept" wait_for 30 \
	sh -c "grep -qx 'MyVar = \"peer\"' '$SPOOL/sites/peer/jobs/pgood/job.ini' 2>/dev/null"
done_testing
