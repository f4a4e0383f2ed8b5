# tests/mkblend.py - make a small Cycles animation for the Blender test and
# benchmark: blender -b --factory-startup --python-exit-code 1 --python
# tests/mkblend.py -- OUT.blend LAST_FRAME WIDTH HEIGHT [--passes]
# [--format FORMAT]. The default cube turns a quarter over frames
# 1..LAST_FRAME, 4 samples, on the CPU (a fixed seed: each frame the same
# every time it is rendered).
#   --passes         the compositor also writes the depth pass through a
#                    File Output node: slot path depth_ (depth_0001.exr),
#                    OpenEXR, full float, beside the beauty
#   --format FORMAT  the scene's own output format (OPEN_EXR, JPEG ...); an
#                    OPEN_EXR scene is full float with PIZ compression, so
#                    that a render keeping the scene's settings shows it
import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blendtiny import tiny_cycles  # noqa: E402

args = sys.argv[sys.argv.index("--") + 1:]
out, last, width, height = args[:4]
opts = args[4:]
s = bpy.context.scene
tiny_cycles(s, bpy.data.objects["Cube"], int(width), int(height), 100, int(last))

if "--format" in opts:
    fmt = opts[opts.index("--format") + 1]
    s.render.image_settings.file_format = fmt
    if fmt == "OPEN_EXR":
        s.render.image_settings.color_depth = "32"
        s.render.image_settings.exr_codec = "PIZ"

if "--passes" in opts:
    s.view_layers[0].use_pass_z = True
    s.use_nodes = True
    tree = s.node_tree
    layers = next(n for n in tree.nodes if n.type == "R_LAYERS")
    fo = tree.nodes.new("CompositorNodeOutputFile")
    # where a hand-run Blender writes it; the farm moves it to the frame's folder
    fo.base_path = "//passes/"
    fo.format.file_format = "OPEN_EXR"
    fo.format.color_depth = "32"
    fo.format.exr_codec = "ZIP"
    fo.file_slots[0].path = "depth_"
    tree.links.new(layers.outputs["Depth"], fo.inputs[0])

bpy.ops.wm.save_as_mainfile(filepath=out)
