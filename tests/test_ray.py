"""Batch balancing on a local Ray: the same gains as the sequential run, and a worker killed mid-batch costs nothing."""

from __future__ import annotations

import json
import threading
import time

import pytest

ray = pytest.importorskip("ray")

from anchormix.batch.balance_job import BalanceJob, balance_job  # noqa: E402
from anchormix.batch.jobs import run_jobs  # noqa: E402
from anchormix.batch.ray_pool import NAMESPACE, run_ray_balance  # noqa: E402
from anchormix.tools.demo import write_demo_session  # noqa: E402


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray-sessions")
    offsets = {"vocals": -6.0, "kick": 3.0, "hats": 5.0, "pad": -4.0}
    return [write_demo_session(root / f"song{i}", "pop", 3.0, i, 22050, offsets) for i in range(6)]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 1024 * 1024)
    yield ray
    ray.shutdown()


def _gains(out) -> dict[str, dict[str, float]]:
    return {d.name: json.loads((d / "gains.json").read_text())["gains_db"] for d in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def sequential(sessions, tmp_path_factory):
    out = tmp_path_factory.mktemp("sequential")
    outcomes = [o for _, o in run_jobs(balance_job, [BalanceJob(s, out, "rules") for s in sessions], 1, "seq")]
    assert all(kind == "ok" for kind, _ in outcomes)
    return _gains(out)


def _assert_same(gains, expected):
    assert gains.keys() == expected.keys()
    for sid in expected:
        for stem, value in expected[sid].items():
            assert gains[sid][stem] == pytest.approx(value, abs=0.05), (sid, stem)


def test_two_ray_workers_balance_every_session_as_the_sequential_run_does(local_ray, sessions, sequential, tmp_path):
    jobs = [BalanceJob(s, tmp_path, "rules") for s in sessions]
    outcomes = dict((job.path, outcome) for job, outcome in run_ray_balance(jobs, workers=2))
    assert all(kind == "ok" for kind, _ in outcomes.values()), outcomes
    _assert_same(_gains(tmp_path), sequential)


def test_a_worker_killed_mid_batch_is_replaced_and_its_session_resumes(local_ray, sessions, sequential, tmp_path):
    """The kill lands on observed progress, never on the clock: the first session to start is held after each step
    while a file exists; once its trace shows its first step (and no gains.json: mid-session) its worker is killed,
    and once it is dead the file is removed, and the session must be taken up by a new worker from its checkpoint.
    (Removing the file right after ray.kill, which returns before the worker dies, once let it finish the session
    first: resumed 0 in CI.)"""
    hold = tmp_path / "hold"
    hold.touch()
    jobs = [BalanceJob(s, tmp_path / "out", "rules", hold_while=hold) for s in sessions]
    killed, died = [], []

    def kill_when_it_has_steps(job, name):  # the worker waits on the hold file after each step: no race
        run = tmp_path / "out" / job.path.name
        while not ((run / "trace.jsonl").exists() and len((run / "trace.jsonl").read_text().splitlines()) >= 1):
            time.sleep(0.05)
        killed.append(not (run / "gains.json").exists())
        worker = ray.get_actor(name, namespace=NAMESPACE)
        ray.kill(worker)  # asynchronous: released before the worker is gone, it could finish the session first
        try:  # queued behind the held session, so only the worker's death ends this call
            ray.get(worker.__ray_ready__.remote(), timeout=120)
        except ray.exceptions.RayActorError:
            died.append(True)
        finally:  # whatever happened, the other sessions must not stay held
            hold.unlink()

    def kill_the_first(job, name):
        if not killed and not any(t.name == "killer" for t in threading.enumerate()):
            threading.Thread(target=kill_when_it_has_steps, args=(job, name), daemon=True, name="killer").start()

    results = dict((job.path.name, outcome) for job, outcome in run_ray_balance(jobs, 2, on_start=kill_the_first))
    assert killed == [True] and died == [True]  # one kill, landed while the session was in progress
    assert all(kind == "ok" for kind, _ in results.values()), results
    assert sum(outcome.resumed for _, outcome in results.values()) == 1  # taken up from its last completed step
    _assert_same(_gains(tmp_path / "out"), sequential)
    assert not list(tmp_path.rglob("*.part*"))  # nothing half-written


def test_the_balance_command_runs_on_ray(local_ray, sessions, sequential, tmp_path, capsys):
    from anchormix.cli import main

    assert main(["balance", *map(str, sessions[:3]), "--out", str(tmp_path), "--planner", "rules", "--ray",
                 "--jobs", "2"]) == 0
    assert "converged" in capsys.readouterr().out
    _assert_same(_gains(tmp_path), {k: v for k, v in sequential.items() if k in {s.name for s in sessions[:3]}})


def test_the_feature_cache_builds_on_ray_as_it_does_here(local_ray, sessions, tmp_path):
    import shutil

    import numpy as np

    from anchormix.cli import main

    for where in ("here", "ray"):  # two copies of four sessions (folders with a session.json: a corpus)
        for s in sessions[:4]:
            shutil.copytree(s, tmp_path / where / s.name)
    assert main(["data", "features", "--sessions", str(tmp_path / "here")]) == 0
    assert main(["data", "features", "--sessions", str(tmp_path / "ray"), "--ray", "--jobs", "2"]) == 0
    for s in sessions[:4]:
        with np.load(tmp_path / "here" / "features" / f"{s.name}.npz") as a, \
                np.load(tmp_path / "ray" / "features" / f"{s.name}.npz") as b:
            assert np.array_equal(a["mel"], b["mel"]) and list(a["names"]) == list(b["names"])
