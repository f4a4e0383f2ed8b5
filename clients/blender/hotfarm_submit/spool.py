# spool.py - the farm's folder as the add-on uses it: drop a job archive into inbox/ and a cancel
# into cancel/ the careful way (temporary name, fsync, rename), read a job's state; errors in plain words.
import errno
import os
import shutil
import tarfile

TERMINAL = ("done", "failed", "cancelled", "rejected")

# the farm's share answers these when it is gone or hangs
_SHARE_GONE = {errno.ENOTCONN, errno.ESTALE, errno.EIO, errno.EHOSTDOWN, errno.EHOSTUNREACH,
               errno.ETIMEDOUT, errno.ECONNABORTED, errno.ECONNRESET, errno.ENODEV}


class FarmError(Exception):
    """Something about the farm's folder, in one sentence an artist can act on."""


def os_error_words(exc, where):
    """OSError EXC met while writing into WHERE, as one plain sentence."""
    e = exc.errno
    if e == errno.ENOSPC:
        return ("The farm's disk is full: there is no room for the job in %s. "
                "Ask the farm's admin to free space, then submit again." % where)
    if e == errno.EDQUOT:
        return "Your disk quota on the farm's share is used up, so the job does not fit into %s." % where
    if e in (errno.EACCES, errno.EPERM):
        return ("You may not write into %s (permission denied): ask the farm's admin to let you "
                "drop jobs there." % where)
    if e == errno.EROFS:
        return "The farm's share is mounted read-only, so nothing can be written into %s." % where
    if e == errno.ENOENT:
        return "%s is not there (any more): is the farm's share still mounted?" % where
    if e in _SHARE_GONE:
        return ("The farm's share stopped answering while writing into %s (%s): check that it is "
                "still mounted and the network is up." % (where, exc.strerror or e))
    return "Could not write into %s: %s." % (where, exc.strerror or exc)


def check_spool(spool):
    """Raise a FarmError unless SPOOL looks like a mounted farm folder (it has inbox/)."""
    if not spool:
        raise FarmError("Set the farm's folder first: Edit > Preferences > Add-ons > hotfarm "
                        "(the share where the farm's inbox is, e.g. /mnt/farm).")
    if not os.path.isdir(spool):
        raise FarmError("The farm's folder %s is not there: is the farm's share mounted? "
                        "(The folder is set in the add-on's preferences.)" % spool)
    if not os.path.isdir(os.path.join(spool, "inbox")):
        raise FarmError("%s has no inbox folder: it is not the farm's folder, or the farm's share "
                        "is not mounted there." % spool)


def _fsync_dir(path):
    """Make a rename in PATH last; some network filesystems cannot, which is no error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_renamed(folder, name, write):
    """The careful writer: WRITE(file) into FOLDER/.NAME.tmp, fsync, rename to FOLDER/NAME.
    Nothing is left behind on failure; an OSError is raised as a FarmError."""
    tmp = os.path.join(folder, "." + name + ".tmp")
    final = os.path.join(folder, name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)  # the farm reads what an artist drops, whatever the artist's umask
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            if os.path.lexists(final):
                raise FileExistsError(errno.EEXIST, "%s exists already" % final)
            os.rename(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except FileExistsError:
        raise FarmError("%s exists already: submit again (a new job gets a new name)." % final)
    except OSError as e:
        raise FarmError(os_error_words(e, folder))
    _fsync_dir(folder)


def drop_archive(spool, name, members):
    """Drop job NAME into SPOOL/inbox/NAME.tar holding MEMBERS, (path on disk, name in the archive)
    pairs, job.ini first; the farm sees it only whole."""
    check_spool(spool)

    def write(f):
        with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path, arcname in members:
                tar.add(path, arcname=arcname, recursive=False, filter=_plain_member)

    _write_renamed(os.path.join(spool, "inbox"), name + ".tar", write)


def _plain_member(info):
    """An archive entry as anyone may unpack it: no owner names, plain modes."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def drop_cancel(spool, name):
    """Ask the farm to cancel job NAME: a file named after it in SPOOL/cancel/."""
    folder = os.path.join(spool, "cancel")
    if not os.path.isdir(folder):
        raise FarmError("%s has no cancel folder: is the farm's share still mounted?" % spool)
    _write_renamed(folder, name, lambda f: f.write(b"cancelled from Blender\n"))


def _ini_values(text, section):
    """The KEY = VALUE lines of [SECTION] in TEXT, quotes taken off."""
    values, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip().lower()
        elif current == section and "=" in line and line[0] not in "#;":
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip().lower()] = value
    return values


def _read_small(path, limit=65536):
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def read_status(spool, name):
    """Job NAME's state as a dict: state, reason, frames_total/done/failed (ints), and the paths
    of its page and contact sheet when they are there. Never raises: a share that does not
    answer is state 'error' with the reason in words."""
    job = os.path.join(spool, "jobs", name)
    try:
        try:
            values = _ini_values(_read_small(os.path.join(job, "status.ini")), "status")
        except FileNotFoundError:
            return _status_before_intake(spool, name)
        status = {"state": values.get("state", "new"), "reason": values.get("reason", "")}
        for key in ("frames_total", "frames_done", "frames_failed"):
            try:
                status[key] = int(values.get(key, "0"))
            except ValueError:
                status[key] = 0
        for key, rel in (("page", "index.html"), ("contact", os.path.join("previews", "contact.png"))):
            path = os.path.join(job, rel)
            status[key] = path if os.path.isfile(path) else ""
        return status
    except OSError as e:
        return {"state": "error", "reason": "The farm's folder %s cannot be read (%s): is the share "
                "still mounted?" % (spool, e.strerror or e)}


def _status_before_intake(spool, name):
    """A job with no folder yet: refused (rejected/NAME/reason.txt), or still on its way."""
    try:
        reason = _read_small(os.path.join(spool, "rejected", name, "reason.txt")).splitlines()
        return {"state": "rejected", "reason": reason[0] if reason else "refused by the farm"}
    except FileNotFoundError:
        pass
    if os.path.exists(os.path.join(spool, "inbox", name + ".tar")):
        return {"state": "inbox", "reason": "in the farm's inbox, waiting to be taken in"}
    return {"state": "intake", "reason": "being taken in by the farm"}


def disk_full(folder, need):
    """Whether FOLDER's disk has less than NEED bytes free (Blender reports a full disk as
    'No such file or directory' when a save fails)."""
    try:
        return shutil.disk_usage(folder).free < need
    except OSError:
        return False
