# tests/addon_scene.py - the scenes of the Blender add-on test, made by Blender itself:
# blender -b --factory-startup --python-exit-code 1 --python tests/addon_scene.py -- DIR
#
# DIR/textures/wood.png   a texture the shot uses by an ABSOLUTE path, outside its folder
# DIR/textures/seq/       an image sequence sign_0001.png .. sign_0003.png (red, green, blue) on a box
# DIR/lib/lib.blend       a library: object Floor, its material's texture //libtex.png beside it
# DIR/artist/shot.blend   the artist's file: a turning cube textured with wood.png, the Floor
#                         LINKED from lib.blend (a relative path out of its folder), Cycles,
#                         4 samples, fixed seed, 128x96 at 50% (64x48 rendered), frames 1-3
# DIR/artist/rusty.blend  the same, but its cube's texture (image 'rust') no longer exists
import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blendtiny import tiny_cycles  # noqa: E402

out = sys.argv[sys.argv.index("--") + 1]
# paths stay as given (absolute), and no .blend1 backups
prefs = bpy.context.preferences.filepaths
prefs.use_relative_paths, prefs.save_version = False, 0
for sub in ("textures", "lib", "artist"):
    os.makedirs(os.path.join(out, sub), exist_ok=True)


def write_png(path, size, colour_of):
    """A SIZE x SIZE PNG at PATH, colour_of(x, y) -> (r, g, b) each pixel."""
    img = bpy.data.images.new("tmp", size, size)
    px = []
    for y in range(size):
        for x in range(size):
            px.extend(colour_of(x, y) + (1.0,))
    img.pixels = px
    img.filepath_raw = path
    img.file_format = "PNG"
    img.save()
    bpy.data.images.remove(img)


def textured(name, image):
    """A material whose base colour is IMAGE."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes = mat.node_tree.nodes
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    mat.node_tree.links.new(tex.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    return mat


wood = os.path.join(out, "textures", "wood.png")
rust = os.path.join(out, "textures", "rust.png")
write_png(wood, 32, lambda x, y: (0.8, 0.5, 0.2) if (x // 4 + y // 4) % 2 else (0.2, 0.1, 0.05))
write_png(rust, 8, lambda x, y: (0.6, 0.2, 0.1))
write_png(os.path.join(out, "lib", "libtex.png"), 16,
          lambda x, y: (0.1, 0.3, 0.9) if (x // 2 + y // 2) % 2 else (0.9, 0.9, 0.9))

# the library, from an empty file: one Floor with a texture beside the library
bpy.ops.wm.read_factory_settings(use_empty=True)
prefs.use_relative_paths, prefs.save_version = False, 0
lib = os.path.join(out, "lib", "lib.blend")
bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 0, -1))
floor = bpy.context.active_object
floor.name = "Floor"
bpy.ops.wm.save_as_mainfile(filepath=lib)  # so that //libtex.png means lib/libtex.png
floor.data.materials.append(textured("FloorMat", bpy.data.images.load("//libtex.png")))
bpy.ops.wm.save_as_mainfile(filepath=lib)

# the artist's shot
bpy.ops.wm.read_factory_settings()
prefs.use_relative_paths, prefs.save_version = False, 0
s = bpy.context.scene
cube = bpy.data.objects["Cube"]
tiny_cycles(s, cube, 128, 96, 50, 3)
# saved once first: the first save of a new file makes every path relative
shot = os.path.join(out, "artist", "shot.blend")
bpy.ops.wm.save_as_mainfile(filepath=shot)
cube.data.materials.clear()
cube.data.materials.append(textured("Wood", bpy.data.images.load(wood)))
# a box with a texture that changes every frame: an image sequence (Blender cannot pack those)
seq = [os.path.join(out, "textures", "seq", "sign_%04d.png" % f) for f in (1, 2, 3)]
os.makedirs(os.path.dirname(seq[0]), exist_ok=True)
for f, path in enumerate(seq):
    write_png(path, 8, lambda x, y, f=f: (0.9 * (f == 0), 0.9 * (f == 1), 0.9 * (f == 2)))
sign_image = bpy.data.images.load(seq[0])
sign_image.source = "SEQUENCE"
bpy.ops.mesh.primitive_cube_add(size=0.8, location=(1.6, 1.9, -0.6))
sign = bpy.context.active_object
sign.name = "Sign"
sign.data.materials.append(textured("SignMat", sign_image))
user = sign.active_material.node_tree.nodes["Image Texture"].image_user
user.frame_duration, user.frame_start, user.use_auto_refresh = 3, 1, True
with bpy.data.libraries.load(lib, link=True, relative=True) as (src, dst):
    dst.objects = ["Floor"]
s.collection.objects.link(dst.objects[0])
bpy.ops.wm.save_as_mainfile(filepath=shot)

# the same shot, its cube's texture gone
img = bpy.data.images.load(rust)
img.name = "rust"
cube.data.materials[0].node_tree.nodes["Image Texture"].image = img
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(out, "artist", "rusty.blend"))
os.remove(rust)
