# pack.py - runs in a background Blender on a copy of the artist's file (blender -b COPY --python pack.py
# -- REQUEST.json): brings every file the scene uses along, then drops the job into the farm's inbox.

# Linked libraries are made local, images, sounds, fonts and volumes packed; what Blender cannot pack
# (image sequences and movies, movie clips, Alembic/USD caches, point, fluid and ocean caches, IES and
# OSL files) is copied beside the .blend and pointed at with a relative path. REQUEST.json names the
# spool, the job, the original file, a staging folder and where to write the result: {"ok": true,
# "name": NAME} or {"ok": false, "message": one sentence}. Every error becomes that sentence.
import errno
import json
import os
import re
import shutil
import sys
import traceback

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spool as farm  # noqa: E402  (a sibling module, also the add-on's)

# what the artist calls each kind of external file, in messages
KIND_WORDS = {"images": "texture image", "libraries": "linked library", "cache_files": "cache file",
              "volumes": "volume", "movieclips": "movie clip", "sounds": "sound", "fonts": "font"}


class PackError(Exception):
    """A scene that cannot go to the farm as it is, in words."""


def sequence_files(path):
    """The files of the sequence or UDIM set PATH is one of (its last number, or its <UDIM> or
    <UVTILE> mark, stands for any), sorted; [] when there is none."""
    folder, base = os.path.split(path)
    if "<UDIM>" in base or "<UVTILE>" in base:
        pattern = re.escape(base).replace(re.escape("<UDIM>"), r"\d{4}").replace(re.escape("<UVTILE>"), r"u\d+_v\d+")
    else:
        m = re.match(r"^(.*?)(\d+)(\D*)$", base)
        if not m:
            return [path] if os.path.isfile(path) else []
        pattern = re.escape(m.group(1)) + r"\d+" + re.escape(m.group(3))
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    return sorted(os.path.join(folder, n) for n in names if re.fullmatch(pattern, n))


def _is_sequence(block, kind):
    if kind == "images":
        return block.source in ("SEQUENCE", "TILED")
    if kind == "movieclips":
        return block.source == "SEQUENCE"
    return kind in ("cache_files", "volumes") and block.is_sequence


def external_files():
    """(kind, data-block, absolute path) of every file the scene reads that is not packed."""
    found = []
    for kind in KIND_WORDS:
        for block in getattr(bpy.data, kind):
            if getattr(block, "packed_file", None) or getattr(block, "users", 1) == 0:
                continue
            if kind == "images" and (block.source not in ("FILE", "SEQUENCE", "MOVIE", "TILED")
                                     or len(block.packed_files)):
                continue
            if kind == "fonts" and block.filepath == "<builtin>":
                continue
            if not block.filepath:
                continue
            owner = block.parent if kind == "libraries" else block.library
            found.append((kind, block, os.path.normpath(bpy.path.abspath(block.filepath, library=owner))))
    return found


def check_nothing_missing():
    """Raise a PackError naming the first file the scene uses that is not there."""
    missing = []
    for kind, block, path in external_files():
        there = sequence_files(path) if _is_sequence(block, kind) else os.path.isfile(path)
        if not there:
            missing.append("The %s '%s' is missing: Blender looked for %s" % (KIND_WORDS[kind], block.name, path))
    if missing:
        more = " (and %d more missing files)" % (len(missing) - 1) if len(missing) > 1 else ""
        raise PackError(missing[0] + more + ". Find it (File > External Data > Find Missing Files) "
                        "or remove it, then submit again.")


def localise_libraries():
    """Make everything linked from other .blend files part of this one, then drop the links."""
    if not bpy.data.libraries:
        return
    if bpy.context.mode != "OBJECT" and bpy.context.view_layer.objects.active:
        # saved in edit, sculpt or pose mode: the file reopens so, and make_local needs object mode
        bpy.ops.object.mode_set(mode="OBJECT")
    bpy.ops.object.make_local(type="ALL")
    linked = [i for i in bpy.data.user_map() if i.library]
    if linked:
        raise PackError("'%s' from the linked library %s could not be made local"
                        % (linked[0].name, linked[0].library.filepath))
    for lib in list(bpy.data.libraries):
        bpy.data.libraries.remove(lib)


class Stager:
    """Copies files into the staging folder, one folder per data-block: STAGE/assets/KIND/N/
    (the farm unpacks the archive into the job's files/)."""

    def __init__(self, stage):
        self.stage = stage
        self.count = 0

    def folder(self, kind):
        self.count += 1
        path = os.path.join(self.stage, "assets", kind, str(self.count))
        os.makedirs(path)
        return path

    def copy_files(self, kind, paths):
        """Copy PATHS (files) into a new folder; returns it."""
        dest = self.folder(kind)
        for p in paths:
            shutil.copy2(p, dest)
        return dest

    def copy_tree(self, kind, src):
        """Copy folder SRC whole (when it is there); returns the new folder."""
        dest = self.folder(kind)
        if os.path.isdir(src):
            shutil.copytree(src, dest, dirs_exist_ok=True)
        return dest


def relative(path):
    """PATH as Blender writes a path relative to the .blend (//assets/...)."""
    return bpy.path.relpath(path)


def copy_unpackable(stager):
    """Copy what pack_all left outside (sequences, movies, clips, caches, volumes) and point at it."""
    for kind, block, path in external_files():
        if kind == "libraries":
            continue
        files = sequence_files(path) if _is_sequence(block, kind) else [path]
        dest = stager.copy_files(kind, files)
        block.filepath = relative(os.path.join(dest, os.path.basename(path)))


def point_caches(ob):
    """Every point cache of object OB: particles, cloth, soft body, dynamic paint."""
    caches = [p.point_cache for p in ob.particle_systems]
    for mod in ob.modifiers:
        if hasattr(mod, "point_cache"):
            caches.append(mod.point_cache)
        if mod.type == "DYNAMIC_PAINT" and mod.canvas_settings:
            caches += [s.point_cache for s in mod.canvas_settings.canvas_surfaces]
    return [c for pc in caches if pc for c in pc.point_caches]


def copy_caches(stager, original, stem):
    """Copy the baked simulation caches the scene reads from disk and point at the copies: the
    default blendcache_NAME beside the file (renamed for the staged .blend), external point
    caches, fluid and ocean cache folders."""
    odir, ostem = os.path.split(original)
    default = os.path.join(odir, "blendcache_" + os.path.splitext(ostem)[0])
    if os.path.isdir(default):
        shutil.copytree(default, os.path.join(stager.stage, "blendcache_" + stem))
    for ob in bpy.data.objects:
        for pc in point_caches(ob):
            if pc.use_external and pc.filepath:
                pc.filepath = relative(stager.copy_tree("pointcache", bpy.path.abspath(pc.filepath)))
        for mod in ob.modifiers:
            if mod.type == "FLUID" and mod.fluid_type == "DOMAIN" and mod.domain_settings.cache_directory:
                d = mod.domain_settings
                d.cache_directory = relative(stager.copy_tree("fluid", bpy.path.abspath(d.cache_directory)))
            elif mod.type == "OCEAN" and mod.is_cached and mod.filepath:
                mod.filepath = relative(stager.copy_tree("ocean", bpy.path.abspath(mod.filepath)))


def node_trees():
    """Every node tree: materials', worlds', lights', and node groups."""
    owners = list(bpy.data.materials) + list(bpy.data.worlds) + list(bpy.data.lights)
    return [o.node_tree for o in owners if o.node_tree] + list(bpy.data.node_groups)


def copy_node_files(stager):
    """IES lights and OSL scripts read from a file."""
    for tree in node_trees():
        for node in tree.nodes:
            if getattr(node, "mode", "") == "EXTERNAL" and getattr(node, "filepath", ""):
                path = bpy.path.abspath(node.filepath)
                if not os.path.isfile(path):
                    raise PackError("The file '%s' of node '%s' in '%s' is missing: Blender looked for %s"
                                    % (os.path.basename(path), node.name, tree.name, path))
                dest = stager.copy_files("nodes", [path])
                node.filepath = relative(os.path.join(dest, os.path.basename(path)))


def check_all_inside(stage):
    """Raise a PackError if the staged file still reads a file outside the staging folder. (An
    unused empty path, such as a point cache's, reads as "/" once made relative: a folder holding
    the staging folder is no file the scene reads.)"""
    root = os.path.realpath(stage) + os.sep
    outside = []
    for path in bpy.utils.blend_paths(absolute=True, packed=False):
        real = os.path.realpath(path)
        if os.path.exists(path) and not real.startswith(root) and not root.startswith(real.rstrip(os.sep) + os.sep):
            outside.append(path)
    if outside:
        raise PackError("hotfarm could not bring %s along with the scene; pack it or make it local, "
                        "then submit again." % ", ".join(outside[:3]))


def stage_scene(request):
    """Save the scene with everything it uses into the staging folder; returns the .blend's path."""
    stage = request["stage"]
    blend = os.path.join(stage, request["scene"])
    os.makedirs(stage, exist_ok=True)
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 in the archive
    bpy.ops.wm.save_as_mainfile(filepath=blend, check_existing=False)
    localise_libraries()
    bpy.ops.file.pack_all()
    stager = Stager(stage)
    copy_unpackable(stager)
    copy_caches(stager, request["original"], os.path.splitext(request["scene"])[0])
    copy_node_files(stager)
    bpy.ops.file.make_paths_relative()
    check_all_inside(stage)
    bpy.ops.wm.save_mainfile()
    return blend


def archive_members(stage, job_ini):
    """(path, name in the archive) of everything staged, job.ini first."""
    members = [(job_ini, "job.ini")]
    for folder, dirs, files in os.walk(stage):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            path = os.path.join(folder, name)
            if path != job_ini:
                members.append((path, os.path.relpath(path, stage)))
    return members


def submit(request):
    """The whole submission; raises PackError, FarmError or anything else."""
    farm.check_spool(request["spool"])
    check_nothing_missing()
    stage_scene(request)
    job_ini = os.path.join(request["stage"], "job.ini")
    with open(job_ini, "w", encoding="utf-8") as f:
        f.write(request["job_ini"])
    farm.drop_archive(request["spool"], request["name"], archive_members(request["stage"], job_ini))


def one_sentence(exc, stage):
    """An unexpected error (Blender's own, or a file of this computer) as one line an artist can
    pass on; the spool's errors are FarmErrors already."""
    tmp = os.path.dirname(os.path.dirname(stage))  # the disk of the temporary folders
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or \
            farm.disk_full(tmp, 2 * os.path.getsize(bpy.data.filepath) + (1 << 20)):
        return ("This computer's disk is full: there is no room for the packed copy of the scene in %s. "
                "Free some space, then submit again." % tmp)
    if isinstance(exc, OSError):
        return "Packing the scene failed at %s: %s." % (exc.filename or stage, exc.strerror or exc)
    text = " ".join(str(exc).split()).replace("Error: ", "") or type(exc).__name__
    return "Submitting failed: %s." % text.rstrip(".")


def main():
    with open(sys.argv[sys.argv.index("--") + 1], encoding="utf-8") as f:
        request = json.load(f)
    try:
        submit(request)
        result = {"ok": True, "name": request["name"]}
    except (PackError, farm.FarmError) as e:
        result = {"ok": False, "message": str(e)}
    except Exception as e:  # noqa: BLE001 - every error becomes one sentence; the log keeps the trace
        traceback.print_exc()
        result = {"ok": False, "message": one_sentence(e, request["stage"])}
    tmp = request["result"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.rename(tmp, request["result"])


main()
