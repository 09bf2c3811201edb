"""The learner dashboard at ``/``: one HTML page and its static files, all from the package.

The page reads the site only through the public GraphQL API (``/graphql``) with the documents of
``queries/`` (copies in ``static/queries/``, kept equal by a test), so it is also a working example
for front-end developers. Nothing is loaded from another host (the Content-Security-Policy says
so to the browser too). On a site built by ``demo-db`` the page carries the demo token to pre-fill
the sign-in form, as GraphiQL does; elsewhere it carries no token.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from definum_gql.graphql.http import demo_prefill
from definum_gql.moodle.site import Moodle

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGE = (HERE / "index.html").read_text(encoding="utf-8")
ASSETS = ("dashboard.css", "charts.js", "dashboard.js")
#: The documents the page runs, each a copy of ``queries/<name>.graphql``.
DOCUMENTS = (
    "me",
    "learner_search",
    "learner_dashboard",
    "monthly_activity_chart",
    "learner_month",
    "learner_time_by_month",
    "course_learners",
    "course_completion_report",
)
#: Only this origin, for everything; the demo token is the only secret a page ever holds.
POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


async def page(request: Request, moodle: Moodle) -> Response:
    """The dashboard page; it needs neither a token nor the database (the demo check aside)."""
    prefill = await demo_prefill(moodle)
    values = {
        "endpoint": request.url_for("graphql").path,
        "queries": request.url_for("dashboard-static", path="queries/").path,
        "token": prefill[0] if prefill else "",
        "learner": prefill[1] if prefill else "",
    }
    values.update({name: request.url_for("dashboard-static", path=name).path for name in ASSETS})
    html = PAGE
    for name, value in values.items():
        html = html.replace("{{" + name + "}}", escape(value, quote=True))
    return HTMLResponse(html, headers=HEADERS)


def static_mount() -> Mount:
    """``/dashboard/static``: the page's scripts, style sheet and GraphQL documents."""
    return Mount("/dashboard/static", app=StaticFiles(directory=STATIC), name="dashboard-static")
