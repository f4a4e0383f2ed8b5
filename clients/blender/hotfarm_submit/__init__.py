# hotfarm_submit - a Blender add-on that sends the open file, with every file it uses, to a hotfarm
# render farm (a spool folder, usually a mounted share) and shows the job's state in Render Properties.
bl_info = {
    "name": "hotfarm",
    "author": "hotfarm",
    "version": (1, 0, 0),
    "blender": (3, 4, 0),
    "location": "Properties > Render > hotfarm",
    "description": "Submit the open file to a hotfarm render farm and follow its job",
    "category": "Render",
}

from . import operators, panel, settings, watch  # noqa: E402  (after bl_info, as Blender reads it)

_MODULES = (settings, operators, panel)


def register():
    for m in _MODULES:
        m.register()


def unregister():
    watch.stop()
    for m in reversed(_MODULES):
        m.unregister()
