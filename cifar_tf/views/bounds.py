"""A library `Limit` as the bounds of a Streamlit number box or slider, so that a page offers
exactly what the check accepts (the check is the one table; the widget only reads it)."""


def widget_bounds(limit, *, smallest=None, high=None):
    """`min_value` and `max_value` for a widget holding `limit`. `smallest` is the least value the
    widget offers where the low end itself is refused (a rate above 0); `high` a tighter top for
    this widget (the warm-up fits in the run's epochs). No end: no bound."""
    bounds = {}
    low = smallest if smallest is not None else limit.low
    if low is not None:
        bounds["min_value"] = limit.kind(low)
    high = limit.high if high is None else high if limit.high is None else min(high, limit.high)
    if high is not None:
        bounds["max_value"] = limit.kind(high)
    return bounds
