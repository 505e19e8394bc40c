"""The Train page's live view of a run: where it stands and its curves, at a cost that does not
grow with the run.

A `LiveRun` is kept per watched run (in the page's session) and, at every refresh, reads only the
lines its run folder gained since the last one. Its training curve holds at most
`MAX_TRAIN_POINTS`: when it grows past them, the oldest points are merged pairwise (their mean),
so that a long run draws as many points as a short one and the latest ones stay sharp. Its chart
specs are plain Vega-Lite dicts, built again only when something new was read and, while the run
trains, at most every CHART_EVERY_S: a refresh costs a few stats, and the browsers watching redraw
their charts a few times a minute, not every second.

How often the view refreshes is measured, not fixed: a `RefreshPacer` times each refresh's CPU and
steps to a longer interval when all the views refreshing on this server, with the browsers that run
on this machine, would take more than REFRESH_CPU_SHARE of a core: a slow server gives the training
the CPU a fast one would, and five tabs refresh less often than one (issue 27).
"""
import statistics
import time
from collections import deque

from ..runs.control import EVENTS_FILE
from ..runs.files import read_jsonl_from
from ..runs.progress import is_step
from ..runs.store import EPOCHS_FILE, STEPS_FILE

MAX_TRAIN_POINTS = 240      # per curve; merged pairwise when passed
KEEP_SHARP = 80             # the most recent points never merged
MAX_STEPS_READ = 4 * MAX_TRAIN_POINTS   # step lines parsed per refresh at most (evenly spaced)
CHART_EVERY_S = 6.0         # the curves redraw at most this often while a run trains: a browser
                            # redrawing two charts per second per tab takes CPU from the training
COLOURS = {"train": "#4c78a8", "validation": "#f58518"}

REFRESH_LEVELS_S = (2, 3, 5, 8, 13, 20, 30)   # the intervals the live view may refresh at
REFRESH_CPU_SHARE = 0.03    # of one core, for every view refreshing on this server together
BROWSER_COST_FACTOR = 3     # a browser's redraw of a refresh, against the server's rerun of it, when
                            # the browser runs on this machine: measured 2.5 to 5 (bench --only watched,
                            # 17 % of a core against 7 %); the server cannot see it, so it assumes it
SEEN_WITHIN_S = 2 * REFRESH_LEVELS_S[-1]   # a view that has not refreshed for this long is gone
_last_refresh = {}          # id of each LiveRun on this server -> when it last refreshed (monotonic)
REFRESH_WINDOW = 5          # refreshes whose median cost decides (one slow refresh is noise)


class LiveRun:
    """One run's step and epoch records, read incrementally from its folder."""

    def __init__(self, path, *, browser_here=False):
        self.path = path
        self.pacer = RefreshPacer()
        self.browser_here = browser_here   # the watching browser runs on the server's machine: its redraw counts
        self._cpu_at_refresh = time.process_time()
        self.offsets = {STEPS_FILE: 0, EPOCHS_FILE: 0, EVENTS_FILE: 0}
        self.points = []          # (epoch as a float, loss, accuracy), thinned
        self.epochs = []          # epoch records, as written
        self.events = []          # what its knobs changed, and where (runs/control.py), marked on the curves
        self.last_step = {}       # the latest step record
        self.version = 0          # changes whenever something new was read
        self._specs = {}

    def refresh(self, steps_per_epoch):
        """Read what the run wrote since the last refresh; True if anything was new."""
        self._cpu_at_refresh = time.process_time()   # `refreshed` tells the pacer what this refresh cost
        # A long history read at once (a run watched late) is sampled: its curve needs a few
        # hundred points, and parsing every line of 60 MB would take seconds.
        steps, self.offsets[STEPS_FILE] = read_jsonl_from(self.path / STEPS_FILE, self.offsets[STEPS_FILE],
                                                          most=MAX_STEPS_READ)
        epochs, self.offsets[EPOCHS_FILE] = read_jsonl_from(self.path / EPOCHS_FILE, self.offsets[EPOCHS_FILE])
        events, self.offsets[EVENTS_FILE] = read_jsonl_from(self.path / EVENTS_FILE, self.offsets[EVENTS_FILE])
        self.events += [event for event in events if event_label(event) and _number(event.get("epoch")) is not None]
        steps = [record for record in steps if is_step(record)]   # a line of the wrong types is skipped
        per_epoch = steps_per_epoch if _number(steps_per_epoch) else 1
        for record in steps:
            self.points.append((record["step"] / per_epoch, _number(record.get("loss")),
                                _number(record.get("accuracy"))))
            self.last_step = record
        self.epochs += epochs
        if len(self.points) > MAX_TRAIN_POINTS:
            self.points = thin(self.points, MAX_TRAIN_POINTS, KEEP_SHARP)
        if steps or epochs or events:
            self.version += 1
        return bool(steps or epochs or events)

    def refreshed(self):
        """The view has been drawn: give the pacer this refresh's CPU (read to draw); True when
        it chose another interval."""
        cost = time.process_time() - self._cpu_at_refresh
        return self.pacer.record(cost, scale=(1 + BROWSER_COST_FACTOR * self.browser_here) * watching_views(self))

    @property
    def epochs_completed(self):
        return sum(not record.get("partial") for record in self.epochs)

    def spec(self, metric, *, epochs=None, height=260, final=False):
        """The Vega-Lite spec of one metric's curves (train line, validation points). It is built
        again only when something new was read, and while the run trains at most every
        CHART_EVERY_S or three refreshes (`final`: the run has ended, draw everything now)."""
        key = (metric, epochs, height)
        built = self._specs.get(key)
        stale = built is None or built[0] != self.version
        every = max(CHART_EVERY_S, 3 * self.pacer.interval)
        if stale and (final or built is None or time.monotonic() - built[1] >= every):
            self._specs[key] = built = (self.version, time.monotonic(),
                                        curve_spec(self.rows(metric), metric, epochs=epochs, height=height,
                                                   events=self.events))
        return built[2]

    def rows(self, metric):
        column = 1 if metric == "loss" else 2
        rows = [{"epoch": round(p[0], 4), "split": "train", "value": p[column]}
                for p in self.points if p[column] is not None]
        rows += [{"epoch": float(e["epoch"]), "split": "validation", "value": float(e[f"val_{metric}"])}
                 for e in self.epochs if isinstance(e.get(f"val_{metric}"), (int, float))
                 and isinstance(e.get("epoch"), (int, float))]
        return rows


class RefreshPacer:
    """How often a live view refreshes: as often as it can afford. `record` takes each refresh's
    CPU seconds; when the median of the last REFRESH_WINDOW would be more than `share` of a core at
    the current interval, the pacer steps to the next longer one, and back to a shorter one only
    when it would cost under half the share there (so it does not flap between two)."""

    def __init__(self, levels=REFRESH_LEVELS_S, share=REFRESH_CPU_SHARE, window=REFRESH_WINDOW):
        self.levels, self.share = tuple(levels), share
        self.level = 0
        self.costs = deque(maxlen=window)
        self.since_change = 0     # refreshes recorded at the current interval

    @property
    def interval(self):
        """Seconds between refreshes."""
        return self.levels[self.level]

    @property
    def cost(self):
        """The median CPU seconds of a refresh lately, or None before the first."""
        return statistics.median(self.costs) if self.costs else None

    def record(self, cpu_seconds, *, scale=1):
        """Take one refresh's cost, `scale` times it being what the refresh really costs (every view
        refreshing alike, with the browsers); True when the interval changed (the caller reschedules)."""
        self.costs.append(cpu_seconds)
        self.since_change += 1
        if self.since_change < self.costs.maxlen:   # the next decision is on refreshes at this interval
            return False
        cost = self.cost * scale
        if cost > self.share * self.interval and self.level < len(self.levels) - 1:
            self.level += 1
        elif self.level and cost < self.share / 2 * self.levels[self.level - 1]:
            self.level -= 1
        else:
            return False
        self.since_change = 0
        return True

    def describe(self):
        """What the page says: "Refreshes every 3 s (about 40 ms of server CPU each)."."""
        cost = f" (about {self.cost * 1000:.0f} ms of server CPU each)" if self.cost is not None else ""
        return f"Refreshes every {self.interval} s{cost}."


def watching_views(view):
    """How many live views refresh on this server now, `view` (which just did) among them."""
    now = time.monotonic()
    _last_refresh[id(view)] = now
    for key, seen in list(_last_refresh.items()):
        if now - seen > SEEN_WITHIN_S:
            _last_refresh.pop(key, None)
    return len(_last_refresh)


def thin(points, most, keep_sharp):
    """Merge the oldest points pairwise (their means) until at most `most` remain; the last
    `keep_sharp` are kept as they are."""
    while len(points) > most:
        old, recent = points[:-keep_sharp], points[-keep_sharp:]
        merged = [tuple(_mean(values) for values in zip(*old[i:i + 2])) for i in range(0, len(old) - 1, 2)]
        if len(old) % 2:
            merged.append(old[-1])
        points = merged + recent
    return points


def curve_spec(rows, metric, *, epochs=None, height=260, events=()):
    """One metric's curves as a Vega-Lite dict: a line for training, points joined by a line for
    validation, the x axis spanning the whole run; a dashed rule, labelled, at each event."""
    title = "loss" if metric == "loss" else "accuracy"
    top = max([epochs or 1] + [row["epoch"] for row in rows])
    encoding = {
        "x": {"field": "epoch", "type": "quantitative", "title": "epoch", "scale": {"domain": [0, top]}},
        "y": {"field": "value", "type": "quantitative", "title": title, "scale": {"zero": metric != "loss"},
              **({"axis": {"format": ".0%"}} if metric == "accuracy" else {})},
        "color": {"field": "split", "type": "nominal", "title": None,
                  "scale": {"domain": list(COLOURS), "range": list(COLOURS.values())},
                  "legend": {"orient": "bottom", "labelLimit": 0}},
        "tooltip": [{"field": "split", "type": "nominal"},
                    {"field": "epoch", "type": "quantitative", "format": ".2f"},
                    {"field": "value", "type": "quantitative", "format": ".4f"}],
    }
    layers = [
        {"mark": {"type": "line"}, "transform": [{"filter": "datum.split == 'train'"}], "encoding": encoding},
        {"mark": {"type": "line", "point": True}, "transform": [{"filter": "datum.split == 'validation'"}],
         "encoding": encoding},
    ]
    if events:
        marks = {"values": [{"epoch": float(e["epoch"]), "event": event_label(e), "by": str(e.get("by") or "")}
                            for e in events]}
        at = {"field": "epoch", "type": "quantitative"}
        layers += [
            {"data": marks, "mark": {"type": "rule", "color": "#6b6b6b", "strokeDash": [4, 3]},
             "encoding": {"x": at, "tooltip": [{"field": "event", "type": "nominal"}, {"field": "by", "type": "nominal"},
                                               {"field": "epoch", "type": "quantitative", "format": ".2f"}]}},
            {"data": marks, "mark": {"type": "text", "align": "left", "baseline": "top", "dx": 3, "fontSize": 10,
                                     "color": "#4b4b4b"},
             "encoding": {"x": at, "y": {"value": 2}, "text": {"field": "event", "type": "nominal"}}},
        ]
    return {"title": title.capitalize(), "height": height, "data": {"values": rows}, "layer": layers}


def event_label(event):
    """An event of the run's knobs in a few words ("lr 0.001 → 0.01", "paused"), or None to leave it out."""
    what = event.get("what")
    if not isinstance(what, str):
        return None
    if what == "lr" and _number(event.get("from")) is not None and _number(event.get("to")) is not None:
        return f"lr {event['from']:.3g} → {event['to']:.3g}"
    if what == "fork":
        return f"fork of {str(event.get('from_run'))[:24]}"
    return {"pause": "paused", "resume": "resumed"}.get(what)


def _mean(values):
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
