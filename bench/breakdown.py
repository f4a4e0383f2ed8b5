#!/usr/bin/env python3
"""bench/breakdown.py TIMES EVENTS...: where a dispatch's time goes.
TIMES has "NAME LANDED_NS STARTED_NS" lines (bench/dispatch.c); the event
logs say when watcherd saw each job arrive, intake accepted it, route queued
it and an agent claimed its frame. Prints the median of each stretch, ms."""
import datetime
import json
import statistics
import sys

STEPS = ["arrived", "accepted", "queued", "started"]


def ns(iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def main():
    seen = {}
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if e.get("event") in STEPS and "job" in e:
                    seen.setdefault(e["job"], {}).setdefault(e["event"], ns(e["time"]))
    stretches = {k: [] for k in ["landed-arrived", "arrived-accepted", "accepted-queued", "queued-started",
                                 "started-render"]}
    with open(sys.argv[1]) as f:
        for line in f:
            name, landed, started = line.split()
            ev = seen.get(name, {})
            if not all(s in ev for s in STEPS):
                continue
            points = [int(landed)] + [ev[s] for s in STEPS] + [int(started)]
            for (k, a, b) in zip(stretches, points, points[1:]):
                stretches[k].append((b - a) / 1e6)
    for k, v in stretches.items():
        print("%s %.2f %d" % (k, statistics.median(v) if v else -1, len(v)))


main()
