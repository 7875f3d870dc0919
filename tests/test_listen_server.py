"""Issue 26, 8 and 10: the listening server keeps its blinding and answers every bad request with 400, never a
dropped connection or a thread left waiting."""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

from anchormix.listen.answers import AnswerStore, order
from anchormix.listen.server import serve_in_thread

from .conftest import sine, write_wav

CONDITIONS = ["reference", "anchor", "none", "loudness", "rules"]
ADVICE = "# Balance advice: song (anchor: bass)\n\n- **vocals +2.0 dB**\n\nPlanner: rules; converged after 2 planning steps.\n"


@pytest.fixture()
def served(tmp_path):
    """A one-trial test folder (what `listen build` writes), served on a free port."""
    files = {}
    for name in CONDITIONS:
        files[name] = f"stimuli/t01/{name}.wav"
        (tmp_path / "stimuli" / "t01").mkdir(parents=True, exist_ok=True)
        write_wav(tmp_path / files[name], sine(220, 0.5, 8000, 0.1), 8000)
    test = {"version": 1, "conditions": CONDITIONS, "reference": "reference", "anchor": "anchor", "target_lufs": -23,
            "trials": [{"id": "t01", "session": "song", "genre": "pop", "files": files, "gains_db": {},
                        "advice": {"rules": ADVICE}}]}
    (tmp_path / "test.json").write_text(json.dumps(test))
    server, base = serve_in_thread(tmp_path)
    yield tmp_path, server
    server.shutdown()


def _post(server, body: bytes, headers: dict | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    connection.request("POST", "/api/answer", body=body,
                       headers=headers if headers is not None else {"Content-Type": "application/json"})
    status = connection.getresponse().status
    connection.close()
    return status


def _answer(ratings, advice=None) -> bytes:
    advice = advice or {"0": {"clear": 3, "actionable": 3, "musically_right": 3}}
    return json.dumps({"listener": "ann", "trial": "t01", "ratings": ratings, "advice": advice}).encode()


def test_the_letter_order_is_keyed_by_a_secret_no_listener_can_know(tmp_path):
    """8: the order was random.Random(listener + trial): anyone could compute it from a name."""
    orders = set()
    for k in range(8):  # eight tests, the same listener and trial: the orders differ with the tests' secrets
        (tmp_path / f"test{k}").mkdir()  # the test's folder, as `listen build` makes it
        store = AnswerStore(tmp_path / f"test{k}")
        assert AnswerStore(tmp_path / f"test{k}").secret == store.secret  # the same test keeps its order
        orders.add(tuple(order(store.secret, "ann", "t01", CONDITIONS)))
    assert len(orders) > 1


def test_the_advice_shown_does_not_name_its_planner(served):
    folder, server = served
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    connection.request("GET", "/api/trials?listener=ann")
    shown = json.loads(connection.getresponse().read())["trials"][0]["advice"]
    assert shown and "vocals +2.0 dB" in shown[0] and "rules" not in shown[0] and "Planner" not in shown[0]


@pytest.mark.parametrize("rating", ["1e400", "1" * 400, "true", "70.5", "-1", "101", '"70"', "null"])
def test_a_rating_that_is_not_a_whole_number_from_0_to_100_is_a_400(served, rating):
    """10: 1e400 or a 400-digit number raised OverflowError and dropped the connection; true was a rating."""
    folder, server = served
    letters = "ABCDE"
    body = '{"listener": "ann", "trial": "t01", "ratings": {' + ", ".join(
        f'"{letter}": {rating if letter == "A" else 50}' for letter in letters) + \
        '}, "advice": {"0": {"clear": 3, "actionable": 3, "musically_right": 3}}}'
    assert _post(server, body.encode()) == 400
    assert AnswerStore(folder).ratings() == []
    assert _post(server, _answer(dict.fromkeys(letters, 50))) == 200  # the connection and the server live on


@pytest.mark.parametrize("advice", [6, 0, True, 2.5])
def test_an_advice_rating_outside_1_to_5_is_a_400(served, advice):
    folder, server = served
    body = _answer(dict.fromkeys("ABCDE", 50), {"0": {"clear": advice, "actionable": 3, "musically_right": 3}})
    assert _post(server, body) == 400 and AnswerStore(folder).ratings() == []


@pytest.mark.parametrize("length", ["abc", "-5", "0", str(10**9)])
def test_a_wrong_or_oversized_content_length_is_a_400(served, length):
    folder, server = served
    assert _post(server, _answer(dict.fromkeys("ABCDE", 50)), {"Content-Length": length}) == 400


def test_a_client_that_sends_less_than_it_announced_is_dropped_not_waited_on(served, monkeypatch):
    """10: a wrong Content-Length made a thread wait forever (200 such requests: 203 threads)."""
    from anchormix.listen import server as server_module

    folder, server = served
    monkeypatch.setattr(server.RequestHandlerClass, "timeout", 0.5)
    before = threading.active_count()
    clients = []
    for _ in range(20):
        client = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=30)
        client.sendall(b"POST /api/answer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"listener\"")
        clients.append(client)
    for client in clients:  # each is closed (or answered) by the server once its timeout passes; a hang raises here
        reply = client.recv(65536)
        assert reply == b"" or reply.startswith(b"HTTP/1."), reply[:80]
        client.close()
    for _ in range(100):  # the handler threads end (a wait for them, not a timing assertion)
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.1)
    assert threading.active_count() <= before
    assert server_module.REQUEST_TIMEOUT_S == 10.0
