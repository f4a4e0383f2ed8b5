#!/usr/bin/env python3
"""syncproxy.py LIMIT CMD... - a transport that breaks: runs CMD and passes
bytes both ways, but cuts the link (kills CMD, exits) after LIMIT bytes
have gone towards CMD. Used to cut a sync session mid-transfer."""
import os, select, subprocess, sys

limit = int(sys.argv[1])
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
sent = 0
fds = {0: "in", child.stdout.fileno(): "out"}
while fds:
    r, _, _ = select.select(list(fds), [], [])
    for fd in r:
        data = os.read(fd, 65536)
        if not data:
            if fds.pop(fd) == "in":
                child.stdin.close()
            continue
        if fds[fd] == "in":
            if sent + len(data) > limit:
                child.stdin.write(data[:max(0, limit - sent)])
                child.kill()
                sys.exit(1)
            sent += len(data)
            child.stdin.write(data)
        else:
            os.write(1, data)
child.wait()
