# watch.py - what the panel shows, kept current without blocking Blender: a worker thread does all file
# work on the farm's folder (checks, status, cancels); a timer takes its results and the packer's end.
import queue
import threading
import time

import bpy

from . import spool as farm
from . import submit

INTERVAL = 1.0  # seconds between two reads of a job's status


class PanelState:
    """What the panel shows: the last message, the job being followed, its status."""

    def __init__(self):
        self.message = ""
        self.is_error = False
        self.spool = ""
        self.job = ""
        self.status = {}
        self.pending = None     # a submit.Plan while the worker looks at the farm's folder
        self.submission = None  # a submit.Submission while its packer runs

    def say(self, message, is_error=False):
        self.message, self.is_error = message, is_error

    def busy(self):
        return self.pending is not None or self.submission is not None


STATE = PanelState()
_todo = queue.Queue()    # to the worker: ("check", plan), ("watch", spool, job), ("cancel", spool, job), ("stop",)
_done = queue.Queue()    # from the worker: ("checked", plan, error), ("status", job, dict), ("message", text, is_error)
_worker = None


def _words(exc, doing):
    """An unexpected exception as one sentence."""
    return "%s failed: %s." % (doing, " ".join(str(exc).split()).rstrip(".") or type(exc).__name__)


def _work():
    """The worker thread: every file read or write on the farm's folder happens here. It follows
    one job, reading its status every INTERVAL, checks the folder before a submission, drops cancels."""
    spool = job = None
    while True:
        try:
            task = _todo.get(timeout=INTERVAL if job else None)
        except queue.Empty:
            task = None
        if task and task[0] == "stop":
            return
        if task and task[0] == "watch":
            spool, job = task[1], task[2]
        elif task and task[0] == "check":
            _done.put(("checked", task[1], _check(task[1].spool)))
        elif task and task[0] == "cancel":
            _done.put(("message",) + _cancel(task[1], task[2]))
        if job:
            try:
                status = farm.read_status(spool, job)
            except Exception as e:  # noqa: BLE001 - the worker lives on, the panel says why
                status = {"state": "error", "reason": _words(e, "Reading the job's state")}
            _done.put(("status", job, status))
            if status["state"] in farm.TERMINAL:
                job = None


def _check(spool):
    """None when SPOOL is a farm folder, else why not."""
    try:
        farm.check_spool(spool)
        return None
    except farm.FarmError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - never a traceback in the panel
        return _words(e, "Looking at the farm's folder")


def _cancel(spool, job):
    """(message, is_error) of dropping a cancel for JOB."""
    try:
        farm.drop_cancel(spool, job)
        return "Asked the farm to cancel job %s." % job, False
    except farm.FarmError as e:
        return str(e), True
    except Exception as e:  # noqa: BLE001
        return _words(e, "Cancelling"), True


def _ask(*task):
    global _worker
    if _worker is None or not _worker.is_alive():
        _worker = threading.Thread(target=_work, name="hotfarm-watch", daemon=True)
        _worker.start()
    _todo.put(task)
    _start_timer()


def _start_timer():
    if not bpy.app.background and not bpy.app.timers.is_registered(poll):
        bpy.app.timers.register(poll, first_interval=0.2, persistent=True)


def follow(spool, job):
    """Show JOB's state from now on."""
    STATE.spool, STATE.job, STATE.status = spool, job, {"state": "inbox", "reason": "dropped into the inbox"}
    _ask("watch", spool, job)


def cancel():
    """Ask the farm to cancel the job shown."""
    if STATE.job:
        _ask("cancel", STATE.spool, STATE.job)
        _ask("watch", STATE.spool, STATE.job)


def begin(plan):
    """Submit PLAN, whose copy is saved, without blocking: the worker looks at the farm's folder,
    then the timer starts the packer and waits for it to end."""
    STATE.pending = plan
    STATE.say("Looking at the farm's folder %s ..." % plan.spool)
    _ask("check", plan)


def submit_now(plan):
    """Submit PLAN, whose copy is saved, and wait for it (scripts in background mode); True when it went."""
    error = _check(plan.spool)
    if error is None:
        _start_packer(plan)
        if STATE.submission:
            STATE.submission.wait()
            return end_submission()
    else:
        plan.discard()
        STATE.say(error, True)
    return False


def _start_packer(plan):
    try:
        STATE.submission = submit.Submission(plan)
        STATE.say("Packing the scene and its files for the farm ...")
    except Exception as e:  # noqa: BLE001 - a SubmitError says it in words already
        plan.discard()
        STATE.say(str(e) if isinstance(e, submit.SubmitError) else _words(e, "Submitting"), True)


def end_submission():
    """The packer has ended: say how it went, and follow the job if it went."""
    ok, message = STATE.submission.outcome()
    spool, name = STATE.submission.spool, STATE.submission.name
    STATE.submission = None
    STATE.say(message, not ok)
    if ok:
        follow(spool, name)
    return ok


def poll():
    """The timer (also called by a script in background mode): take what the worker found and the
    packer's end, never waiting for either. Returns when to run again, or None to stop."""
    changed = False
    if STATE.submission and STATE.submission.finished():
        end_submission()
        changed = True
    while True:
        try:
            item = _done.get_nowait()
        except queue.Empty:
            break
        changed = True
        if item[0] == "checked" and item[1] is STATE.pending:
            STATE.pending = None
            if item[2]:
                item[1].discard()
                STATE.say(item[2], True)
            else:
                _start_packer(item[1])
        elif item[0] == "status" and item[1] == STATE.job:
            STATE.status = item[2]
        elif item[0] == "message":
            STATE.say(item[1], item[2])
    if changed:
        _redraw()
    following = STATE.job and STATE.status.get("state") not in farm.TERMINAL
    busy = STATE.busy() or following or not _todo.empty() or not _done.empty()
    return 0.5 if busy else None


def wait_until(test, seconds):
    """For scripts in background mode (no timers run there): poll until TEST() or SECONDS pass."""
    end = time.monotonic() + seconds
    while True:
        poll()
        if test() or time.monotonic() > end:
            return test()
        time.sleep(0.05)


def _redraw():
    wm = getattr(bpy.context, "window_manager", None)
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "PROPERTIES":
                area.tag_redraw()


def status_lines():
    """The panel's lines about the job shown, as plain text."""
    st = STATE.status
    if not STATE.job:
        return []
    state = st.get("state", "")
    lines = ["Job %s: %s" % (STATE.job, state)]
    total = st.get("frames_total", 0)
    if total:
        done = st.get("frames_done", 0)
        line = "%d of %d frames done (%d%%)" % (done, total, 100 * done // total)
        if st.get("frames_failed"):
            line += ", %d failed" % st["frames_failed"]
        lines.append(line)
    if st.get("reason"):
        lines.append(("Refused by the farm: " if state == "rejected" else "") + st["reason"])
    return lines


def stop():
    """Unregistering: the worker ends, the timer goes."""
    if _worker is not None and _worker.is_alive():
        _todo.put(("stop",))
    if bpy.app.timers.is_registered(poll):
        bpy.app.timers.unregister(poll)

