# operators.py - the panel's buttons: submit the open file, cancel the job shown, open its contact
# sheet or its page. None changes the open file; every failure is one sentence in the panel.
import os
import webbrowser

import bpy

from . import submit
from . import watch


def _fail(op, message):
    watch.STATE.say(message, True)
    op.report({"ERROR"}, message)
    return {"CANCELLED"}


class HOTFARM_OT_submit(bpy.types.Operator):
    """Send the open file, with every file it uses, to the render farm"""
    bl_idname = "hotfarm.submit"
    bl_label = "Submit to hotfarm"
    bl_options = {"REGISTER"}  # no UNDO: submitting changes nothing in the file

    wait: bpy.props.BoolProperty(
        name="Wait", default=True, options={"SKIP_SAVE"},
        description="In background mode (a script): wait until the job is in the farm's inbox. Without it, "
                    "the script calls hotfarm_submit.watch.poll() as the timer would. Never waits in the UI")

    @classmethod
    def poll(cls, context):
        return not watch.STATE.busy()

    def execute(self, context):
        try:
            plan = submit.prepare(context)
            submit.save_copy(plan)
        except submit.SubmitError as e:
            return _fail(self, str(e))
        except Exception as e:  # noqa: BLE001 - never a traceback in the panel
            return _fail(self, "Submitting failed: %s." % " ".join(str(e).split()).rstrip("."))
        if not (bpy.app.background and self.wait):
            watch.begin(plan)
            return {"FINISHED"}
        # a script drives Blender: submit and wait here
        if not watch.submit_now(plan):
            return _fail(self, watch.STATE.message)
        self.report({"INFO"}, watch.STATE.message)
        return {"FINISHED"}


class HOTFARM_OT_cancel(bpy.types.Operator):
    """Cancel the job on the farm: frames already rendered stay"""
    bl_idname = "hotfarm.cancel"
    bl_label = "Cancel Job"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return bool(watch.STATE.job)

    def execute(self, context):
        watch.cancel()
        return {"FINISHED"}


class HOTFARM_OT_open(bpy.types.Operator):
    """Open the job's contact sheet or its page"""
    bl_idname = "hotfarm.open"
    bl_label = "Open"
    bl_options = {"REGISTER"}

    what: bpy.props.EnumProperty(items=[("contact", "Contact Sheet", ""), ("page", "Job Page", "")])

    def execute(self, context):
        path = watch.STATE.status.get(self.what, "")
        if not path:
            return _fail(self, "The farm has not made it yet.")
        if self.what == "page":
            webbrowser.open("file://" + os.path.abspath(path))
        else:
            bpy.ops.wm.path_open(filepath=path)
        return {"FINISHED"}


CLASSES = (HOTFARM_OT_submit, HOTFARM_OT_cancel, HOTFARM_OT_open)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
