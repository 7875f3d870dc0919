"""``anchormix listen serve TEST/``: the test on localhost, one self-contained page, answers into SQLite.

    GET  /                                  the page (page.html: HTML, CSS and JS in one file, nothing fetched)
    GET  /api/trials?listener=NAME          the trials, each stimulus under a letter in the listener's own order,
                                            and which trials the listener has answered (a stopped test resumes)
    GET  /audio/TRIAL/LETTER?listener=NAME  a stimulus ("ref" for the open reference)
    POST /api/answer                        one trial's ratings (whole numbers 0-100 per letter) and advice ratings (1-5)

The server alone knows which letter is which condition (the order is keyed by a
secret in answers.sqlite); it stores conditions. The advice is shown without the
planner's name. A bad request (a wrong Content-Length, a body over 64 KiB, a
rating out of range or not a whole number) is answered 400; a client that stops
sending is dropped after 10 s, so no thread waits on it.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from .answers import AnswerStore, advice_order, order
from .stimuli import TEST_FILE, blind

__all__ = ["make_server", "serve_in_thread", "PAGE", "letters"]

PAGE = Path(__file__).with_name("page.html")
ADVICE_SCALES = ("clear", "actionable", "musically_right")
MAX_BODY_BYTES = 64 * 1024  # one trial's answer is a few hundred bytes
REQUEST_TIMEOUT_S = 10.0


def letters(count: int) -> list[str]:
    return [chr(ord("A") + k) for k in range(count)]


def _rating(value, low: int, high: int) -> int:
    """A rating as the page sends it: a whole number from ``low`` to ``high`` (not a bool, not 1e400, not "70")."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"a rating must be a whole number from {low} to {high}, got {str(value)[:20]!r}")
    return value


class _Handler(BaseHTTPRequestHandler):
    test: dict
    folder: Path
    store: AnswerStore
    timeout = REQUEST_TIMEOUT_S  # a client that sends less than it announced is dropped, not waited on forever

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
        secret = self.store.secret
        if url.path == "/":
            return self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
        if url.path == "/api/trials" and listener:
            done = self.store.answered(listener)
            trials = [{"id": t["id"], "letters": letters(len(self.test["conditions"])), "done": t["id"] in done,
                       "reference_from": t.get("reference_from", "reference_lu"),
                       "advice": [blind(t["advice"][p]) for p in advice_order(secret, listener, t["id"], list(t["advice"]))]}
                      for t in self.test["trials"]]
            return self._json(HTTPStatus.OK, {"trials": trials})
        parts = url.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "audio" and listener and (trial := self._trial(parts[1])):
            names = order(secret, listener, trial["id"], self.test["conditions"])
            picked = "reference" if parts[2] == "ref" else dict(zip(letters(len(names)), names)).get(parts[2])
            if picked:
                return self._send(HTTPStatus.OK, (self.folder / trial["files"][picked]).read_bytes(), "audio/wav")
        self._json(HTTPStatus.NOT_FOUND, {"error": "no such thing"})

    def _body(self) -> dict:
        """The request's JSON object; ``ValueError`` for a missing, wrong or oversized Content-Length."""
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or not 0 < int(length) <= MAX_BODY_BYTES:
            raise ValueError(f"Content-Length must be 1 to {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(int(length))
        if len(raw) != int(length):
            raise ValueError("the body is shorter than its Content-Length")
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    def do_POST(self) -> None:
        if urlparse(self.path).path != "/api/answer":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "POST /api/answer only"})
        try:
            body = self._body()
            listener, trial = str(body["listener"]).strip(), self._trial(str(body["trial"]))
            if not listener or len(listener) > 100 or trial is None:
                raise ValueError("a listener's name (up to 100 characters) and a trial of this test are needed")
            names = order(self.store.secret, listener, trial["id"], self.test["conditions"])
            ratings = {name: _rating(body["ratings"][letter], 0, 100) for letter, name in zip(letters(len(names)), names)}
            planners = advice_order(self.store.secret, listener, trial["id"], list(trial["advice"]))
            advice = {p: {k: _rating(body["advice"][str(i)][k], 1, 5) for k in ADVICE_SCALES}
                      for i, p in enumerate(planners)}
        except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as err:  # JSONDecodeError is a ValueError
            return self._json(HTTPStatus.BAD_REQUEST, {"error": f"bad answer ({type(err).__name__}: {str(err)[:200]})"})
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
