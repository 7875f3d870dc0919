"""Training on two processes (Accelerate + torch.distributed over gloo, on CPU): gradients really sync."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_hold_the_same_weights_after_every_step(tiny_corpus, tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "ddp.yaml"
    config.write_text(f"corpus: {tiny_corpus}\nout: {out}\nsteps: 2\ndraws_per_step: 1\nmax_stems: 4\n"
                      "valid_every: 100\nvalid_draws: 1\nthreads: 1\nrank_log: true\nmodel: {frames: 64}\n")
    launch = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
              "--main_process_port", str(_free_port()), "-m", "anchormix", "train", "--config", str(config)]
    done = subprocess.run(launch, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    ranks = [[json.loads(line) for line in (out / f"rank-{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    assert [r["step"] for r in ranks[0]] == [r["step"] for r in ranks[1]] == [0, 1, 2]
    for zero, one in zip(*ranks):  # DDP averaged the gradients: the same weights, bit for bit, after every step
        assert zero["sha256"] == one["sha256"], (zero, one)
    hashes = [r["sha256"] for r in ranks[0]]
    assert len(set(hashes)) == 3  # and they moved at each step
    for zero, one in zip(ranks[0][1:], ranks[1][1:]):  # each its own share of the draws, together all of them
        assert not set(zero["draws"]) & set(one["draws"]) and len(zero["draws"]) == len(one["draws"]) == 1
    assert (out / "alm.safetensors").exists() and (out / "train.json").exists()  # written once, by the main process
