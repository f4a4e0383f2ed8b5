#!/usr/bin/env python3
"""slowwrite.py MODE SRC DST SPOOL NAME - copy SRC to DST the way a slow
client does, and check between chunks that the farm has not taken or
rejected the half-written file. MODE: stream (open, write slowly, close),
presized (an SMB client: full size of zeros first, then fill in place),
resumed (write half, close, reopen later and append the rest).
The pauses are the slow network being simulated, not waits for a result."""
import os, sys, time

mode, src, dst, spool, name = sys.argv[1:6]
data = open(src, "rb").read()
chunks = 8
step = (len(data) + chunks - 1) // chunks
pause = 0.25

def check(when):
    bad = []
    if os.path.exists(os.path.join(spool, "rejected", name)):
        bad.append("rejected")
    if os.path.exists(os.path.join(spool, "jobs", name)):
        bad.append("taken into jobs/")
    if not os.path.exists(dst):
        bad.append("moved out of inbox/")
    if bad:
        print(f"slowwrite: {when}: half-written file was {', '.join(bad)}", file=sys.stderr)
        sys.exit(1)

if mode == "stream":
    with open(dst, "wb") as f:
        for i in range(chunks):
            f.write(data[i * step:(i + 1) * step]); f.flush()
            time.sleep(pause); check(f"after chunk {i + 1}/{chunks}")
elif mode == "presized":
    with open(dst, "wb") as f:
        f.truncate(len(data)); f.flush()
        time.sleep(pause); check("after pre-sizing")
        for i in range(chunks):
            f.seek(i * step); f.write(data[i * step:(i + 1) * step]); f.flush()
            time.sleep(pause); check(f"after chunk {i + 1}/{chunks}")
elif mode == "resumed":
    half = len(data) // 2
    with open(dst, "wb") as f:
        f.write(data[:half])
    # closed and broken off: the farm must not reject what may still come
    for i in range(6):
        time.sleep(pause); check(f"while the upload is broken off ({i + 1})")
    with open(dst, "ab") as f:
        f.write(data[half:])
else:
    sys.exit(f"unknown mode {mode}")
