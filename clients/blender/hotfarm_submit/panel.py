# panel.py - the hotfarm panel in Render Properties: the job's settings, Submit, and the state of the
# job sent last (from watch.STATE, which the timer keeps current; drawing reads no file).
import bpy

from . import watch


class HOTFARM_PT_render(bpy.types.Panel):
    bl_label = "hotfarm"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        prefs = context.preferences.addons[__package__].preferences
        self.draw_farm(layout, prefs)
        hs = context.scene.hotfarm
        col = layout.column()
        col.prop(hs, "priority")
        col.prop(hs, "frames")
        if not hs.frames.strip():
            scene = context.scene
            split = col.split(factor=0.4)
            split.label(text="")
            split.label(text="Empty: the scene's, %d to %d" % (scene.frame_start, scene.frame_end))
        col.prop(hs, "chunk", text="Chunk (0: auto)")
        col.prop(hs, "format")
        col.prop(hs, "requires")
        col.prop(hs, "email")
        row = layout.row()
        row.scale_y = 1.4
        row.operator("hotfarm.submit", icon="RENDER_ANIMATION")
        self.draw_state(layout)

    def draw_farm(self, layout, prefs):
        row = layout.row()
        row.prop(prefs, "spool", text="Farm folder")

    def draw_state(self, layout):
        state = watch.STATE
        if state.message:
            box = layout.box()
            for i, line in enumerate(_wrap(state.message, 60)):
                box.label(text=line, icon=("ERROR" if state.is_error else "INFO") if i == 0 else "BLANK1")
        lines = watch.status_lines()
        if not lines:
            return
        box = layout.box()
        for line in lines:
            for part in _wrap(line, 60):
                box.label(text=part)
        row = box.row(align=True)
        sub = row.row(align=True)
        sub.enabled = bool(state.status.get("contact"))
        sub.operator("hotfarm.open", text="Contact Sheet", icon="IMAGE_DATA").what = "contact"
        sub = row.row(align=True)
        sub.enabled = bool(state.status.get("page"))
        sub.operator("hotfarm.open", text="Job Page", icon="URL").what = "page"
        sub = row.row(align=True)
        sub.enabled = state.status.get("state") not in ("done", "failed", "cancelled", "rejected")
        sub.operator("hotfarm.cancel", icon="CANCEL")


def _wrap(text, width):
    """TEXT in lines of about WIDTH characters (a panel label does not wrap)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = (line + " " + word) if line else word
    return lines + [line] if line else lines


def register():
    bpy.utils.register_class(HOTFARM_PT_render)


def unregister():
    bpy.utils.unregister_class(HOTFARM_PT_render)
