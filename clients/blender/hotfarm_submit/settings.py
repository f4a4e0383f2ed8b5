# settings.py - the add-on's settings: the farm's folder (a preference, the same for every file) and
# each scene's job settings (saved with the .blend, so a shot keeps its priority, frames and format).
import bpy

from . import jobspec

FORMAT_ITEMS = [("SCENE" if key == "" else key, label, tip) for key, label, tip in jobspec.FORMATS]


class HotfarmPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    spool: bpy.props.StringProperty(
        name="Farm folder", subtype="DIR_PATH",
        description="The farm's spool folder, usually a mounted share (it holds inbox/ and jobs/). "
                    "Left empty: $HOTFARM_SPOOL")

    def draw(self, context):
        self.layout.prop(self, "spool")


class HotfarmSceneSettings(bpy.types.PropertyGroup):
    priority: bpy.props.IntProperty(name="Priority", default=500, min=0, max=999,
                                    description="0 runs first, 999 last; jobs of equal priority in the order sent")
    frames: bpy.props.StringProperty(name="Frames", default="",
                                     description="Frames to render: 1-240, 1,5,9-12 or 1-240x2; "
                                                 "empty: the scene's frame range")
    chunk: bpy.props.IntProperty(name="Chunk", default=0, min=0, max=10000,
                                 description="Frames one Blender renders in a run; 0: the farm measures it")
    format: bpy.props.EnumProperty(name="Format", items=FORMAT_ITEMS, default="SCENE",
                                   description="The image format the farm writes")
    requires: bpy.props.StringProperty(name="Requires", default="",
                                       description="What a render host must have: key = pattern, separated by "
                                                   "commas, e.g. blender = 3.4*, min_ram_mb = 8000")
    email: bpy.props.StringProperty(name="E-mail", default="",
                                    description="Where the farm writes when the job ends (optional)")


CLASSES = (HotfarmPreferences, HotfarmSceneSettings)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.hotfarm = bpy.props.PointerProperty(type=HotfarmSceneSettings)


def unregister():
    del bpy.types.Scene.hotfarm
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
