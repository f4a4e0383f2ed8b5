# tests/blendtiny.py - the tiny Cycles animation the Blender tests render, in one place: tests/mkblend.py
# and tests/addon_scene.py import it (run by Blender, which puts no script's folder on sys.path).
import math


def tiny_cycles(scene, cube, width, height, percentage, last):
    """SCENE renders with Cycles on the CPU, 4 samples, a fixed seed (each frame the same every time),
    WIDTH x HEIGHT at PERCENTAGE, frames 1..LAST; CUBE turns a quarter over them."""
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 4
    scene.cycles.seed = 0
    scene.cycles.use_animated_seed = False
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = percentage
    scene.frame_start, scene.frame_end = 1, last
    cube.rotation_euler = (0, 0, 0)
    cube.keyframe_insert("rotation_euler", frame=1)
    cube.rotation_euler = (0, 0, math.pi / 2)
    cube.keyframe_insert("rotation_euler", frame=last)
