"""Co-link traces: the same canonical URL, and the same low-traffic registrable domain.

URLs inside reshares are left out: a reshare carries the original post's link, and co-resharing
is its own trace (the coordination-network-toolkit does the same).
"""

from __future__ import annotations

from vigil.detect.traces.base import TraceSpec, posts_events

# A domain counts only while it is "low-traffic": shared by at most this many distinct accounts.
# Two accounts both linking to a national newspaper says nothing; both linking to a fresh
# throw-away site does.
LOW_TRAFFIC_DOMAIN_ACCOUNTS = 50

CO_LINK = TraceSpec(
    name="co_link",
    description="same canonical URL posted (not reshared) within the window",
    events_sql=posts_events("coalesce(x.canonical, x.url)", unnest="urls", where="reshare_of IS NULL"),
    signal_kinds=("url",),
)

CO_DOMAIN = TraceSpec(
    name="co_domain",
    description=(
        "same registrable domain of a low-traffic site (at most "
        f"{LOW_TRAFFIC_DOMAIN_ACCOUNTS} accounts) posted within the window; shorteners excluded"
    ),
    events_sql=posts_events(
        "x.domain",
        unnest="urls",
        where="reshare_of IS NULL",
        element_where="NOT coalesce(x.is_shortener, false)",
    ),
    max_item_accounts=LOW_TRAFFIC_DOMAIN_ACCOUNTS,
    signal_kinds=("domain",),
)
