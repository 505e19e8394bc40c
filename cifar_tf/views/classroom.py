"""Class mode's tables: the leaderboard (for screens, and in large type for a projector), the
queue as the teacher sees it, and the class's seats."""
from html import escape
from urllib.parse import urlencode

import pandas as pd

from ..classroom.budget import within_budget
from ..classroom.leaderboard import COLUMNS
from ..classroom.queue import queue_with_estimates
from ..classroom.roles import owner_name, owner_of
from ..runs.progress import progress
from ..runs.searches import SearchFolder
from .formatting import format_seconds, plural

PROJECTOR_STYLE = """
<style>
.board-frame { overflow-x: auto; }
.board { width: 100%; border-collapse: collapse; font-size: clamp(1rem, 2.6vw, 2rem); line-height: 1.25; }
.board th { font-size: 1.1rem; text-transform: uppercase; letter-spacing: .05em; color: #666; text-align: left;
            border-bottom: 3px solid #444; padding: .3rem .6rem; }
.board td { padding: .45rem .6rem; border-bottom: 1px solid #ccc; }
.board td.num { text-align: right; font-variant-numeric: tabular-nums; }
.board tr.top td { font-weight: 700; font-size: 1.2em; }
.board a { color: inherit; text-decoration: none; }
</style>
"""

# The projector view's page: the whole width for the board, no sidebar (the page's own toggle turns
# the view off). Fixed text: Streamlit's initial_sidebar_state gives way to a sidebar opened by hand.
PROJECTOR_PAGE_STYLE = """
<style>
[data-testid="stSidebar"], [data-testid="stExpandSidebarButton"] {
    display: none !important;
}
</style>
"""


def run_link(run_id):
    """A link to a run, relative to the app's address (it opens read-only for others)."""
    return "train?" + urlencode({"run": run_id})


def leaderboard_table(rows):
    """The rows as a DataFrame for st.dataframe, with a link to each run."""
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["test accuracy"] = table["test accuracy"].astype("float64").round(3)  # 55.2%, as the projector has it
    table["link"] = [run_link(run_id) for run_id in table["id"]]
    return table


def projector_html(rows, limit=15):
    """The best `limit` students in large type (every name escaped): rank, student, accuracy,
    training time, parameters."""
    lines = ["<div class='board-frame'><table class='board'><tr><th>#</th><th>student</th><th>test accuracy</th>"
             "<th>time</th>"
             "<th>params</th><th>run</th></tr>"]
    for row in rows[:limit]:
        rank = row["rank"]
        params = f"{int(row['params']):,}" if row["params"] is not None else "–"
        time = format_seconds(row["training time (s)"]) if row["training time (s)"] is not None else "–"
        lines.append(
            f"<tr class='{'top' if rank <= 3 else ''}'><td>{rank}</td>"
            f"<td>{escape(str(row['student']))}</td><td class='num'>{row['test accuracy']:.1%}</td>"
            f"<td class='num'>{escape(time)}</td><td class='num'>{escape(params)}</td>"
            f"<td><a href='{escape(run_link(row['id']))}' target='_self'>{escape(str(row['run']))}</a></td></tr>")
    lines.append("</table></div>")
    return PROJECTOR_STYLE + "".join(lines)


def queue_table(runs, slots, names, searches=()):
    """Running runs (a search's trials among them), then the queue in order, queued searches
    included: place, student, run, status, when it starts (or how long it has trained and has left)."""
    rows = []
    for run in runs:
        if run.status == "running":
            state = progress(run)
            left = within_budget(run, state["eta_seconds"])
            rows.append({"place": "training", "student": owner_name(run, names) or "–", "run": run.name,
                         "status": f"epoch {state['epoch']} of {state['epochs']}",
                         "starts": f"{format_seconds(left)} left" if left else "–",
                         "id": run.id})
    for search in searches:   # its trials are listed as runs too, while they train
        if search.status == "running":
            rows.append({"place": "training", "student": owner_name(search, names) or "–", "run": search.name,
                         "status": f"search, {plural(search.workers, 'trial')} at once", "starts": "–",
                         "id": search.id})
    for place, (run, wait) in enumerate(queue_with_estimates(runs, slots, searches=searches), start=1):
        search = isinstance(run, SearchFolder)
        rows.append({"place": str(place), "student": owner_name(run, names) or "–", "run": run.name,
                     "status": f"queued search, {plural(run.workers, 'trial')} at once" if search else "queued",
                     "starts": f"in about {format_seconds(wait)}" if wait is not None else "unknown",
                     "id": run.id})
    return pd.DataFrame(rows, columns=["place", "student", "run", "status", "starts", "id"])


def seats_table(seats, runs, teacher_seats):
    """Everyone who joined: name, teacher or not, runs started, when they joined."""
    counts = {}
    for run in runs:
        owner = owner_of(run)
        if owner:
            counts[owner["seat"]] = counts.get(owner["seat"], 0) + 1
    rows = [{"name": seat.name, "teacher": seat.key in teacher_seats, "runs": counts.get(seat.key, 0),
             "joined": str(seat.created_at or "")[:16].replace("T", " ")} for seat in seats]
    table = pd.DataFrame(rows, columns=["name", "teacher", "runs", "joined"])
    return table.sort_values("name", key=lambda names: names.str.casefold()).reset_index(drop=True)
