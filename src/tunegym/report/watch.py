"""``tunegym report RUN_DIR --watch``: the report served on 127.0.0.1, refreshed as trials land.

The static ``report.html`` stays self-contained and script-free (its Content Security
Policy forbids scripts). The watch server serves the same page with a policy that allows
one script of its own (``/watch.js``), which polls ``/state`` and reloads the page when
the run database changed. The report is regenerated (as ``tunegym report`` does) only
when a request finds the database changed since the last regeneration, so an idle page
costs a ``stat`` per poll. In a run folder this user may only read (a colleague's run, an
archive), the page is built in memory and nothing is written. Standard library only
(``http.server``), loopback only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tunegym.layout import RUN_DB_NAME
from tunegym.report.html import CONTENT_POLICY
from tunegym.report.writing import ReportsNotWritable, current_page, regenerate

WATCH_POLICY = f"{CONTENT_POLICY}; script-src 'self'; connect-src 'self'"
WATCH_JS = """
(function () {
  var seen = document.documentElement.dataset.state;
  function poll() {
    fetch('/state', {cache: 'no-store'}).then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.state !== seen) { location.reload(); } else { setTimeout(poll, %(interval_ms)d); }
      })
      .catch(function () { setTimeout(poll, %(interval_ms)d); });
  }
  setTimeout(poll, %(interval_ms)d);
})();
"""


def database_state(run_dir: Path) -> str:
    """A token that changes whenever the run database does (a commit touches the WAL)."""
    parts = []
    for name in (RUN_DB_NAME, f"{RUN_DB_NAME}-wal"):
        try:
            stat = (run_dir / name).stat()
        except FileNotFoundError:
            parts.append("-")
            continue
        parts.append(f"{stat.st_mtime_ns}:{stat.st_size}")
    return "/".join(parts)


class ReportWatcher:
    """The regenerated report of one run folder and its state token (thread-safe)."""

    def __init__(self, run_dir: Path, interval_s: float = 1.0) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.interval_s = interval_s
        self.in_memory = False
        """Whether the page is built in memory: set once the run folder's reports could
        not be rewritten (a folder this user may only read), after which nothing is
        written."""
        self._lock = threading.Lock()
        self._state: str | None = None
        self._page = ""

    def page(self) -> tuple[str, str]:
        """``(html, state)``: the report as of now (regenerated if the database changed)."""
        with self._lock:
            state = database_state(self.run_dir)
            if state != self._state:
                self._page, self._state = _watchable(self._current_page(), state), state
            return self._page, self._state

    def _current_page(self) -> str:
        if not self.in_memory:
            try:
                regenerate(self.run_dir)
                return (self.run_dir / "report.html").read_text(encoding="utf-8")
            except ReportsNotWritable:
                self.in_memory = True
        return current_page(self.run_dir)

    def script(self) -> str:
        return WATCH_JS % {"interval_ms": max(100, int(self.interval_s * 1000))}


def _watchable(html: str, state: str) -> str:
    """The static page with the watch script allowed and loaded, and its state stamped."""
    if CONTENT_POLICY not in html:
        raise ValueError("report.html has no Content-Security-Policy tunegym wrote")
    html = html.replace(CONTENT_POLICY, WATCH_POLICY, 1)
    html = html.replace('<html lang="en">', f'<html lang="en" data-state="{state}">', 1)
    return html.replace("</body>", '<script src="/watch.js"></script></body>', 1)


def make_server(watcher: ReportWatcher, port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:``port`` (0: a free one) serving ``watcher``."""
    routes: dict[str, Callable[[], tuple[str, str]]] = {
        "/": lambda: ("text/html; charset=utf-8", watcher.page()[0]),
        "/watch.js": lambda: ("text/javascript; charset=utf-8", watcher.script()),
        "/state": lambda: ("application/json", json.dumps({"state": watcher.page()[1]})),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            kind, body = route()
            data = body.encode("utf-8")
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per poll
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server
