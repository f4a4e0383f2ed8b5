# endedjobs.py - make N ended jobs in a spool for make bench's housekeeping
# figure: one job folder as the farm leaves a done 4-frame job, copied N times
# into jobs/, each with its done/ entry. Usage: endedjobs.py SPOOL N
import os
import shutil
import sys
import time

spool, n = sys.argv[1], int(sys.argv[2])
tmpl = os.path.join(spool, ".template")
files = {
    "job.ini": b"[job]\nframes = 1-4\n[render]\nscene = scene.pov\n",
    "status.ini": b'[status]\nstate = "done"\nframes_total = 4\nframes_done = 4\n',
    "billing.ini": b"[billing]\nframes = 4\n",
    "notifications.log": b"accepted\nfinal\n",
    "index.html": b"<html></html>\n" * 40,
    "files/scene.pov": b"sphere { <0, 0, 0>, 1 }\n" * 20,
}
for f in range(1, 5):
    files[f"frames/done/{f - 1:06d}-{f:06d}"] = b"frame %d\nwall = 1.0\n" % f
    files[f"output/f_{f:04d}.png"] = os.urandom(16 * 1024)
    files[f"previews/f_{f:04d}.jpg"] = os.urandom(2 * 1024)
    files[f"logs/frame{f}.try1.h1.1.log"] = b"povray says\n" * 50
for d in ("frames/todo", "frames/active", "frames/failed", "work"):
    os.makedirs(os.path.join(tmpl, d), exist_ok=True)
for path, data in files.items():
    os.makedirs(os.path.dirname(os.path.join(tmpl, path)), exist_ok=True)
    with open(os.path.join(tmpl, path), "wb") as f:
        f.write(data)
seq = time.time_ns() // 1000
for i in range(n):
    shutil.copytree(tmpl, os.path.join(spool, "jobs", f"ended{i}"))
    open(os.path.join(spool, "done", f"500-{seq + i:016d}-ended{i}"), "w").close()
shutil.rmtree(tmpl)
