# jobspec.py - what the artist asked for, checked and written as a job.ini (see job.ini(5)),
# and the job's name. Plain Python without bpy, so that it can be read and tried outside Blender.
import random
import re
import time
import unicodedata

# [render] format values, and what the panel calls them; "" keeps the scene's own settings
FORMATS = [
    ("", "Scene's own", "Keep the scene's own output settings (format, depth, codec)"),
    ("png", "PNG", "8-bit PNG"),
    ("png16", "PNG 16-bit", "16-bit PNG"),
    ("jpeg", "JPEG", "JPEG"),
    ("tiff", "TIFF", "16-bit TIFF"),
    ("exr", "OpenEXR", "OpenEXR, half float, ZIP"),
    ("exr-multilayer", "OpenEXR Multilayer", "Multilayer OpenEXR, half float, ZIP"),
    ("hdr", "Radiance HDR", "Radiance HDR"),
]
FRAME_MAX = 9999999
_FRAME_PART = re.compile(r"^(\d+)(?:-(\d+)(?:x(\d+))?)?$")
_REQUIRE_KEY = re.compile(r"^[A-Za-z0-9_]+$")
_EMAIL = re.compile(r"^[^@\s\"']+@[^@\s\"']+\.[^@\s\"']+$")


class JobError(Exception):
    """A setting the farm would refuse, said in plain words."""


def frames_of_scene(start, end, step):
    """The scene's frame range as job.ini writes it: 1-240, 1-240x2, or 7."""
    if start < 0 or end < 0:
        raise JobError("The scene's frames start below 0 (%d); the farm renders frames 0 to %d: "
                       "set the frames to render in the hotfarm panel." % (min(start, end), FRAME_MAX))
    if start == end:
        return str(start)
    return "%d-%d" % (start, end) + ("x%d" % step if step > 1 else "")


def check_frames(text):
    """TEXT as the farm reads it (1-240, 1,5,9-12, 1-240x2), without blanks; else a JobError."""
    parts = [p.strip() for p in text.split(",")]
    for p in parts:
        m = _FRAME_PART.match(p)
        if not m:
            raise JobError("Frames '%s' are not understood: write a range like 1-240, a list like "
                           "1,5,9-12, or every second frame as 1-240x2." % text.strip())
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if m.group(3) and int(m.group(3)) < 1:
            raise JobError("Frames '%s': the step after x is 1 or more." % p)
        if last < first or last > FRAME_MAX:
            raise JobError("Frames '%s': a range goes from a lower to a higher frame, at most %d."
                           % (p, FRAME_MAX))
    return ",".join(parts)


def parse_requires(text):
    """'blender = 3.4*, min_ram_mb = 8000' as [(key, pattern)]; else a JobError."""
    pairs = []
    for item in re.split(r"[,;\n]", text):
        if not item.strip():
            continue
        key, eq, pattern = item.partition("=")
        key, pattern = key.strip(), pattern.strip()
        if not eq or not _REQUIRE_KEY.match(key) or not pattern:
            raise JobError("Requires '%s' is not understood: write key = pattern, separated by "
                           "commas, e.g. blender = 3.4*, min_ram_mb = 8000." % item.strip())
        pairs.append((key, pattern))
    return pairs


def check_email(text):
    """TEXT when it looks like one address (or is empty); else a JobError."""
    text = text.strip()
    if text and not _EMAIL.match(text):
        raise JobError("E-mail '%s' is not an address like ann@studio.example." % text)
    return text


def safe_stem(stem):
    """STEM in the letters the farm keeps as they are: Müller shot 42 -> Muller_shot_42."""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_stem).strip("_-")[:40] or "blend"


def job_name(stem, now=None):
    """A name no other job has: the file's name, the time and 4 random hex digits
    (shot 42.blend -> shot_42-20261207-070512-ab12)."""
    safe = safe_stem(stem)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return "%s-%s-%04x" % (safe, stamp, random.SystemRandom().getrandbits(16))


def _quote(value, what):
    """VALUE as one quoted job.ini value; a JobError if it cannot be one."""
    if any(ord(c) < 32 for c in value) or ('"' in value and "'" in value):
        raise JobError("%s '%s' holds a line break or both kinds of quotes." % (what, value))
    q = "'" if '"' in value else '"'
    return q + value + q


def job_ini(name, scene, frames, width, height, priority=500, chunk=0, fmt="", email="", requires=()):
    """The text of job.ini; CHUNK 0 lets the farm choose (auto), FMT "" keeps the scene's format."""
    lines = ["# written by the hotfarm Blender add-on", "[job]",
             "name = %s" % name, "frames = %s" % check_frames(frames),
             "priority = %d" % priority]
    if chunk:
        lines.append("chunk = %d" % chunk)
    email = check_email(email)
    if email:
        lines.append("email = %s" % _quote(email, "E-mail"))
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise JobError("The frame size %dx%d is outside what the farm renders (1 to 16384 pixels a side): "
                       "check the resolution and its percentage." % (width, height))
    lines += ["[render]", "package = blender", "scene = %s" % _quote(scene, "The file name"),
              "width = %d" % width, "height = %d" % height]
    if fmt:
        lines.append("format = %s" % fmt)
    if requires:
        lines.append("[requires]")
        lines += ["%s = %s" % (k, _quote(p, "Requires")) for k, p in requires]
    return "\n".join(lines) + "\n"
