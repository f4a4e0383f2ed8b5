#!/bin/sh
# escape.sh - the hostile render package as a shell script: run in its job
# folder with OTHER (another job's file) and OUTSIDE (a folder it must not
# write), it tries the ways out a script has; one line per attempt: "ok
# NAME" (it got out) or "blocked NAME".
other=$1 outside=$2
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "ok $name"; else echo "blocked $name"; fi; }
dir=${other%/*}
try sh-cat cat "$other"
try sh-redirect sh -c 'read -r x <"$1"' - "$other"
try sh-cp cp "$other" ./copied
try sh-dd dd if="$other" of=./dd-copy
try sh-proc-root cat "/proc/self/root$other"
try sh-ln-s sh -c 'ln -sf "$1" ./sl && cat ./sl' - "$other"
try sh-ls ls "$dir"
try sh-find sh -c 'find "$1" -type f | grep -q .' - "$dir"
try sh-touch-outside touch "$outside/touched"
try sh-python3 python3 -c "open('$other').read()"
try sh-tar tar -cf ./stolen.tar "$other"
try sh-run-other "$dir/tool.sh"
