# tests/addon_drive.py - the hotfarm Blender add-on used as an artist would, in one background Blender,
# for tests/t-blender-addon.sh; writes "CASE<TAB>what the panel says" lines into OUT as it goes.
#
# blender -b --factory-startup --python tests/addon_drive.py -- OUT ZIP SPOOL SHOT RUSTY NOWHERE NOTSPOOL FULL
#   installs the add-on from ZIP (as Edit > Preferences > Add-ons > Install does), then submits:
#   the unsaved startup file; RUSTY (a texture gone); SHOT to NOWHERE (no such folder), NOTSPOOL (no
#   inbox/), FULL (a full disk; "-" to leave out) and with bad frames; SHOT to SPOOL (job A, then B,
#   which no host can render, the way the UI does it: not waiting, the timer's work done by the
#   script), checks the session did not change, touches OUT.submitted, cancels B, follows A to its end.
import os
import sys
import time

import addon_utils
import bpy

OUT, ZIP, SPOOL, SHOT, RUSTY, NOWHERE, NOTSPOOL, FULL = sys.argv[sys.argv.index("--") + 1:]
out = open(OUT, "w", encoding="utf-8")


def record(case, text):
    out.write("%s\t%s\n" % (case, " ".join(str(text).split())))
    out.flush()


def submit(spool, wait=True, **settings):
    """Press Submit with SPOOL as the farm folder and SETTINGS in the panel; what the panel says.
    WAIT: the operator waits for the packer; else as in the UI, the timer's work done here."""
    bpy.context.preferences.addons["hotfarm_submit"].preferences.spool = spool
    hs = bpy.context.scene.hotfarm
    for key, value in dict(dict(frames="", priority=500, chunk=0, format="SCENE", requires="", email=""),
                           **settings).items():
        setattr(hs, key, value)
    try:
        bpy.ops.hotfarm.submit(wait=wait)
    except RuntimeError:
        pass  # the operator reported an error: the panel shows it
    watch.wait_until(lambda: not watch.STATE.busy(), 60)
    return watch.STATE.message


def session():
    """What the open file is in this session: its name, unsaved state and the paths it uses."""
    return (bpy.data.filepath, bpy.data.is_dirty,
            sorted((i.name, i.filepath, i.packed_file is None) for i in bpy.data.images),
            sorted((lib.name, lib.filepath) for lib in bpy.data.libraries),
            sorted(o.name + ("@" + o.library.name if o.library else "") for o in bpy.data.objects))


def state_is(*states):
    return lambda: watch.STATE.status.get("state") in states


bpy.ops.preferences.addon_install(filepath=ZIP)
addon_utils.enable("hotfarm_submit", default_set=True)
from hotfarm_submit import watch  # noqa: E402  (only there once installed)

record("installed", "yes")
record("unsaved", submit(SPOOL))

bpy.ops.wm.open_mainfile(filepath=RUSTY)
record("missing", submit(SPOOL))

bpy.ops.wm.open_mainfile(filepath=SHOT)
before = session()
record("nomount", submit(NOWHERE))
record("noinbox", submit(NOTSPOOL))
if FULL != "-":
    record("diskfull", submit(FULL))
record("badframes", submit(SPOOL, frames="1-x"))
record("badrequires", submit(SPOOL, requires="blender 3.4"))
t0 = time.monotonic()
said = submit(SPOOL, format="png", priority=100)
record("submitted", "%s (%.1f s)" % (said, time.monotonic() - t0) if not watch.STATE.is_error else "FAILED: " + said)
job_a = watch.STATE.job
record("job_a", job_a)
after = session()
record("unchanged", "yes" if after == before else "no: before %r, after %r" % (before, after))
said = submit(SPOOL, wait=False, requires="blender = 0.0*", priority=900)
job_b = watch.STATE.job if not watch.STATE.is_error else ""
record("job_b", job_b or "FAILED: " + said)
open(OUT + ".submitted", "w").close()

# B waits: no host has Blender 0.0; cancel it
watch.wait_until(state_is("queued", "held", "failed", "rejected"), 30)
record("b_before_cancel", " | ".join(watch.status_lines()))
bpy.ops.hotfarm.cancel()
watch.wait_until(state_is("cancelled", "failed", "done"), 30)
record("cancel_said", watch.STATE.message)
record("b_after_cancel", " | ".join(watch.status_lines()))

# follow A until it ends: what the panel shows then
watch.follow(SPOOL, job_a)
watch.wait_until(state_is("done", "failed", "cancelled", "rejected"), 120)
record("a_end", " | ".join(watch.status_lines()))
record("a_contact", watch.STATE.status.get("contact", ""))
record("a_page", watch.STATE.status.get("page", ""))
record("session_end", "unchanged" if session() == before else "changed: %r" % (session(),))
record("end", "yes")
