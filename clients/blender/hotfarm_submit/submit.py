# submit.py - a submission from the artist's session: check the settings, save a copy of the open
# file (nothing in the session changes), and pack and drop it by a background Blender (pack.py).
import json
import os
import shutil
import subprocess
import tempfile

import bpy

from . import jobspec
from . import spool as farm

PACKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pack.py")


class SubmitError(Exception):
    """Why a job cannot be submitted, in one sentence."""


def spool_path(context):
    """The farm's folder: the add-on's preference, else $HOTFARM_SPOOL (as the hotfarm command)."""
    prefs = context.preferences.addons[__package__].preferences
    path = bpy.path.abspath(prefs.spool).strip() if prefs.spool.strip() else os.environ.get("HOTFARM_SPOOL", "")
    return os.path.normpath(path) if path else ""


def frame_size(scene):
    """The frames' size in pixels, as Blender renders them: resolution times its percentage."""
    r = scene.render
    return r.resolution_x * r.resolution_percentage // 100, r.resolution_y * r.resolution_percentage // 100


def job_ini_text(scene, name, blend_name):
    """The job.ini of SCENE's hotfarm settings; a JobError when one is wrong."""
    hs = scene.hotfarm
    frames = hs.frames.strip() or jobspec.frames_of_scene(scene.frame_start, scene.frame_end, scene.frame_step)
    width, height = frame_size(scene)
    return jobspec.job_ini(name, blend_name, frames, width, height, priority=hs.priority, chunk=hs.chunk,
                           fmt=hs.format if hs.format != "SCENE" else "", email=hs.email,
                           requires=jobspec.parse_requires(hs.requires))


class Plan:
    """A job on its way: where it goes, its name, job.ini, and the copy of the file saved for it in
    a temporary folder of its own."""

    def __init__(self, spool, name, blend, scene_name, ini):
        self.spool, self.name, self.blend, self.scene_name, self.ini = spool, name, blend, scene_name, ini
        self.tmp = self.copy = ""

    def discard(self):
        """Remove the temporary folder (the copy, the staging folder, the packer's log)."""
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = ""


def prepare(context):
    """Check the settings of a submission of the open file (reading no file); returns a Plan, or
    raises a SubmitError."""
    blend = bpy.data.filepath
    if not blend:
        raise SubmitError("Save the file first: this file has never been saved, and the farm renders a "
                          "saved .blend file.")
    spool = spool_path(context)
    if not spool:
        raise SubmitError("Set the farm's folder first: Edit > Preferences > Add-ons > hotfarm "
                          "(the share where the farm's inbox is, e.g. /mnt/farm).")
    stem = os.path.splitext(os.path.basename(blend))[0]
    name = jobspec.job_name(stem)
    scene_name = jobspec.safe_stem(stem) + ".blend"
    try:
        return Plan(spool, name, blend, scene_name, job_ini_text(context.scene, name, scene_name))
    except jobspec.JobError as e:
        raise SubmitError(str(e))


def save_copy(plan):
    """Save the open file as it is now (unsaved changes too) into a temporary folder. Runs in the
    operator, on Blender's main thread: copy=True leaves the session's file name, paths and unsaved
    state as they were. Raises a SubmitError."""
    plan.tmp = tempfile.mkdtemp(prefix="hotfarm-submit-")
    plan.copy = os.path.join(plan.tmp, "copy", os.path.basename(plan.blend))
    try:
        os.mkdir(os.path.dirname(plan.copy))
        bpy.ops.wm.save_as_mainfile(filepath=plan.copy, copy=True, check_existing=False)
    except (RuntimeError, OSError) as e:
        where = os.path.dirname(plan.tmp)  # the temporary folder's disk
        plan.discard()
        if farm.disk_full(where, os.path.getsize(plan.blend) + (1 << 20)):
            raise SubmitError("This computer's disk is full: there is no room for a copy of the scene in "
                              "%s. Free some space, then submit again." % where)
        raise SubmitError("Blender could not save a copy of the scene into %s: %s."
                          % (where, " ".join(str(e).split()).replace("Error: ", "").rstrip(".")))


class Submission:
    """The background Blender packing a Plan's copy and dropping it into the farm's inbox."""

    def __init__(self, plan):
        self.plan, self.spool, self.name = plan, plan.spool, plan.name
        request = {"spool": plan.spool, "name": plan.name, "original": plan.blend, "scene": plan.scene_name,
                   "stage": os.path.join(plan.tmp, "job"), "job_ini": plan.ini,
                   "result": os.path.join(plan.tmp, "result.json")}
        self.result_path = request["result"]
        self.log_path = os.path.join(plan.tmp, "pack.log")
        with open(os.path.join(plan.tmp, "request.json"), "w", encoding="utf-8") as f:
            json.dump(request, f)
        argv = [bpy.app.binary_path, "-b", "--factory-startup", "-noaudio", plan.copy,
                "--python", PACKER, "--", os.path.join(plan.tmp, "request.json")]
        with open(self.log_path, "wb") as log:
            try:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            except OSError as e:
                raise SubmitError("Could not start Blender (%s) to pack the scene: %s"
                                  % (bpy.app.binary_path, e.strerror))

    def finished(self):
        return self.proc.poll() is not None

    def wait(self):
        self.proc.wait()

    def outcome(self):
        """(True, message) or (False, message) once the packer has ended; the temporary folder goes."""
        self.proc.wait()
        try:
            with open(self.result_path, encoding="utf-8") as f:
                result = json.load(f)
        except (OSError, ValueError):
            result = {"ok": False, "message": "Blender stopped while packing the scene (exit status %s) "
                      "and said: %s" % (self.proc.returncode, self._last_log_line())}
        self.plan.discard()
        if result.get("ok"):
            return True, "Submitted job %s to %s." % (self.name, self.spool)
        return False, result.get("message") or "Submitting failed for a reason Blender did not say."

    def _last_log_line(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith(("Blender quit", "Fra:"))]
            return lines[-1] if lines else "nothing"
        except OSError:
            return "nothing"
