#!/usr/bin/env python3
# mkzip.py OUT.zip - the hotfarm Blender add-on as the zip Blender installs (Edit > Preferences >
# Add-ons > Install): hotfarm_submit/*.py, no byte code, fixed times (the same bytes every build).
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ADDON = "hotfarm_submit"


def main(out):
    names = sorted(n for n in os.listdir(os.path.join(HERE, ADDON)) if n.endswith(".py"))
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for n in names:
            info = zipfile.ZipInfo(ADDON + "/" + n, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(os.path.join(HERE, ADDON, n), "rb") as f:
                z.writestr(info, f.read())
    os.replace(tmp, out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: mkzip.py OUT.zip")
    main(sys.argv[1])
