# tests/mkblend.py - make a small Cycles animation for the Blender test and
# benchmark: blender -b --factory-startup --python-exit-code 1 --python
# tests/mkblend.py -- OUT.blend LAST_FRAME WIDTH HEIGHT. The default cube
# turns a quarter over frames 1..LAST_FRAME, 4 samples, on the CPU.
import math
import sys

import bpy

out, last, width, height = sys.argv[sys.argv.index("--") + 1:][:4]
s = bpy.context.scene
s.render.engine = "CYCLES"
s.cycles.device = "CPU"
s.cycles.samples = 4
s.render.resolution_x, s.render.resolution_y, s.render.resolution_percentage = int(width), int(height), 100
s.frame_start, s.frame_end = 1, int(last)
cube = bpy.data.objects["Cube"]
cube.rotation_euler = (0, 0, 0)
cube.keyframe_insert("rotation_euler", frame=1)
cube.rotation_euler = (0, 0, math.pi / 2)
cube.keyframe_insert("rotation_euler", frame=int(last))
bpy.ops.wm.save_as_mainfile(filepath=out)
