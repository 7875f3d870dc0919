"""``anchormix listen serve TEST/``: the test on localhost, one self-contained page, answers into SQLite.

    GET  /                                  the page (page.html: HTML, CSS and JS in one file, nothing fetched)
    GET  /api/trials?listener=NAME          the trials, each stimulus under a letter in the listener's own order,
                                            and which trials the listener has answered (a stopped test resumes)
    GET  /audio/TRIAL/LETTER?listener=NAME  a stimulus ("ref" for the open reference)
    POST /api/answer                        one trial's ratings (0-100 per letter) and advice ratings (1-5)

The server alone knows which letter is which condition; it stores conditions.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from .answers import AnswerStore, advice_order, order
from .stimuli import TEST_FILE

__all__ = ["make_server", "serve_in_thread", "PAGE", "letters"]

PAGE = Path(__file__).with_name("page.html")
ADVICE_SCALES = ("clear", "actionable", "musically_right")


def letters(count: int) -> list[str]:
    return [chr(ord("A") + k) for k in range(count)]


class _Handler(BaseHTTPRequestHandler):
    test: dict
    folder: Path
    store: AnswerStore

    def log_message(self, *args) -> None:  # quiet: the terminal shows where the test runs, not every request
        pass

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _trial(self, trial_id: str) -> dict | None:
        return next((t for t in self.test["trials"] if t["id"] == trial_id), None)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        listener = (parse_qs(url.query).get("listener") or [""])[0].strip()
        if url.path == "/":
            return self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
        if url.path == "/api/trials" and listener:
            done = self.store.answered(listener)
            trials = [{"id": t["id"], "letters": letters(len(self.test["conditions"])), "done": t["id"] in done,
                       "advice": [t["advice"][p] for p in advice_order(listener, t["id"], list(t["advice"]))]}
                      for t in self.test["trials"]]
            return self._json(HTTPStatus.OK, {"trials": trials})
        parts = url.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "audio" and listener and (trial := self._trial(parts[1])):
            names = order(listener, trial["id"], self.test["conditions"])
            picked = "reference" if parts[2] == "ref" else dict(zip(letters(len(names)), names)).get(parts[2])
            if picked:
                return self._send(HTTPStatus.OK, (self.folder / trial["files"][picked]).read_bytes(), "audio/wav")
        self._json(HTTPStatus.NOT_FOUND, {"error": f"no such thing: {url.path}"})

    def do_POST(self) -> None:
        if urlparse(self.path).path != "/api/answer":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "POST /api/answer only"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            listener, trial = str(body["listener"]).strip(), self._trial(str(body["trial"]))
            names = order(listener, trial["id"], self.test["conditions"])
            ratings = {name: float(body["ratings"][letter]) for letter, name in zip(letters(len(names)), names)}
            planners = advice_order(listener, trial["id"], list(trial["advice"]))
            advice = {p: {k: int(body["advice"][str(i)][k]) for k in ADVICE_SCALES} for i, p in enumerate(planners)}
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": f"incomplete answer ({type(err).__name__}: {err})"})
        if not listener or not all(0 <= r <= 100 for r in ratings.values()) or \
                not all(1 <= v <= 5 for a in advice.values() for v in a.values()):
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "ratings are 0-100, advice ratings 1-5, a name is needed"})
        if not self.store.save(listener, trial["id"], ratings, advice):
            return self._json(HTTPStatus.CONFLICT, {"error": f"{listener} already answered {trial['id']}; kept"})
        self._json(HTTPStatus.OK, {"ok": True})


def make_server(folder: Path, port: int = 8000, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The test's HTTP server on ``host:port`` (not started); ``ValueError`` naming a folder with no test."""
    folder = Path(folder)
    if not (folder / TEST_FILE).is_file():
        raise ValueError(f"{folder}: no {TEST_FILE}; build the test first (anchormix listen build ... --out {folder})")
    handler = type("Handler", (_Handler,), {"test": json.loads((folder / TEST_FILE).read_text(encoding="utf-8")),
                                            "folder": folder, "store": AnswerStore(folder)})
    return ThreadingHTTPServer((host, port), handler)


def serve_in_thread(folder: Path, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start the server in a daemon thread (port 0: any free one): (server, its base URL). Tests use it."""
    server = make_server(folder, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
