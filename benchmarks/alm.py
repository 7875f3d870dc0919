"""The ALM planner against the rule planner: load time, one planning step, a whole balance, advice writing, memory.

    python benchmarks/alm.py [--seconds 30] [--repeat 3] [--threads 2]

Session: the 8-stem pop demo (kick, snare, hats, bass, keys, pad, lead,
vocals; 44.1 kHz stereo, --seconds long) with every stem moved off the
reference. Each planner runs in its own subprocess so its peak RSS is its
own. "Load" is building the planner (the ALM: backbone + shipped checkpoint +
its advice writer). "First step" is listen (measure_loudness) + plan on a
fresh context: for the ALM that includes the log-mel of every stem and its
call head's choice; "warm step" repeats it (best of --repeat) with the
features cached, as later iterations of a balance run. "Whole balance" is the
agent loop from a freshly loaded session to its finish (no render), the
planner already built, the ALM's advice writing included. Advice: the rules
quote their reasons; the ALM's writer writes a sentence per move (all moves in
one batch, constrained greedy decoding drafted from its phrasebook), timed again
on its own, and against token-by-token decoding (the baseline; same words).
The ALM runs three times: as shipped (one copy of the backbone's weights shared
by the planner and the writer, its forward in plain torch: model/backbone.py,
model/llama.py); on transformers + peft with the weights shared ("alm,
transformers"); and as before issue 25, on transformers with each loading its
own copy ("alm, own backbones", the baseline for load time and peak memory).
Exits 1 if a planner fails to propose a move on the spoiled session.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_rss import peak_rss_bytes  # benchmarks/: the script's own folder is on the path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command line has it (anchormix/__init__.py), before numpy loads
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SEPARATE = "alm, own backbones"  # the ALM as before issue 25: planner and writer each load the backbone
TRANSFORMERS = "alm, transformers"  # one copy of the weights, the forward transformers' (as before model/llama.py)
OFFSETS_DB = {"kick": 3.0, "snare": -4.0, "hats": 5.0, "keys": -6.0, "pad": 4.0, "lead": -3.0, "vocals": -5.0}


def whole_balance(planner_obj, folder: Path) -> tuple[float, dict]:
    """A whole balance through the agent loop on a freshly loaded session (listens, every planning step, the tools
    it calls; no render), with the planner already built: (wall seconds, final state)."""
    from anchormix.agent import run_balance, start_state
    from anchormix.tools import ToolContext, load_session

    started = time.perf_counter()
    ctx = ToolContext.of(load_session(folder))
    state = run_balance(planner_obj, ctx, start_state("bench", ctx.session.anchor, planner_obj.name,
                                                      {n: 0.0 for n in ctx.session.names}))
    return time.perf_counter() - started, state


def measure(planner: str, folder: Path, repeat: int, threads: int) -> dict:
    """Run in the child process: one planner's numbers."""
    label = planner
    if planner in (SEPARATE, TRANSFORMERS):
        import anchormix.model.backbone

        os.environ["ANCHORMIX_BACKBONE"] = "transformers"
        anchormix.model.backbone.SHARE_ONE_COPY = planner == TRANSFORMERS
        planner = "alm"
    if planner == "alm":  # the rule planner's process never imports torch
        import torch

        torch.set_num_threads(threads)
    from anchormix.agent.toolcall import parse_tool_call
    from anchormix.planners import make_planner
    from anchormix.tools import REGISTRY, ToolContext, load_session

    ctx = ToolContext.of(load_session(folder))
    ctx.measurements.lufs  # the measurement both planners share, off the clock

    def step() -> tuple[float, dict]:
        started = time.perf_counter()
        gains = {n: 0.0 for n in ctx.session.names}
        state = {"anchor": ctx.session.anchor, "gains_db": gains, "iteration": 0, "messages": [],
                 "measurements": {"loudness": REGISTRY.call("measure_loudness", {}, ctx.at(gains))}}
        action = planner_obj.plan(state, ctx.at(gains))
        if isinstance(action, str):  # the ALM answers with a JSON tool call, as the graph receives it
            action = parse_tool_call(action)
        return time.perf_counter() - started, action

    started = time.perf_counter()
    planner_obj = make_planner(planner)
    if planner == "alm":  # its advice writer too (loaded on first use otherwise, inside the balance)
        from anchormix.model.advice.writer import DRAFT_TOKENS, shared_writer

        shared_writer()
    load_s = time.perf_counter() - started
    first_s, action = step()
    warm_s = min(step()[0] for _ in range(repeat))
    balance_s, balance = whole_balance(planner_obj, folder)
    row = {"planner": label, "load_s": load_s, "first_step_s": first_s, "warm_step_s": warm_s,
           "action": action.get("tool"), "tokens": None, "tokens_per_s": None, "advice": None,
           "balance_s": balance_s, "balance_steps": balance.get("iteration", 0), "balance_status": balance.get("status"),
           "gains": balance.get("gains_db")}
    if planner == "alm":  # the advice writing alone (it is part of the whole balance above)
        ids, _ = planner_obj.balancer.alm.layout(planner_obj.balancer.inputs(ctx)[1])
        started = time.perf_counter()
        written, _ = planner_obj.write_advice(balance, ctx)
        write_s = time.perf_counter() - started
        tokens = sum(len(shared_writer().ids(t)) for t in written.values())
        row.update(tokens=tokens, tokens_per_s=tokens / write_s, write_s=write_s, advice=written,
                   prompt_tokens=len(ids))
        from anchormix.agent.grounding import stem_facts  # the writer alone, drafted vs token by token (baseline)

        facts = stem_facts(balance, ctx.session.roles, planner_obj.balancer.ranges)
        for key, draft in (("drafted", DRAFT_TOKENS), ("one_by_one", 0)):
            started = time.perf_counter()
            row[key] = shared_writer().write(facts, draft_tokens=draft)
            row[key + "_s"] = time.perf_counter() - started
    row["peak_rss_mb"] = peak_rss_bytes() / 2**20
    row["transformers_imported"] = "transformers" in sys.modules or "peft" in sys.modules
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the demo session (default: 30)")
    parser.add_argument("--repeat", type=int, default=3, help="warm steps, best of (default: 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--child", nargs=2, metavar=("PLANNER", "SESSION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], Path(args.child[1]), args.repeat, args.threads)))
        return 0

    from rich.console import Console
    from rich.table import Table

    from anchormix.tools.demo import write_demo_session

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_demo_session(Path(tmp) / "pop8", "pop", args.seconds, 0, 44100, OFFSETS_DB)
        for planner in ("rules", SEPARATE, TRANSFORMERS, "alm"):
            done = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat), "--threads",
                                   str(args.threads), "--child", planner, str(folder)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                print(f"{planner}: the benchmark child failed (exit {done.returncode})", file=sys.stderr)
                return 1
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))

    table = Table(title=f"One planning step, 8-stem pop demo ({args.seconds:g} s, 44.1 kHz stereo); "
                        f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} torch threads")
    for column in ("planner", "load (s)", "first step (s)", "warm step (ms)", "whole balance (s)", "advice", "tokens/s",
                   "peak RSS (MB)"):
        table.add_column(column, justify="left" if column in ("planner", "advice") else "right")
    for row in rows:
        advice = "template" if row["tokens"] is None else \
            f"{len(row['advice'])} sentences, {row['tokens']} tokens in {row['write_s']:.1f} s"
        table.add_row(row["planner"] + (" (baseline)" if row["planner"] == "rules" else ""), f"{row['load_s']:.2f}",
                      f"{row['first_step_s']:.2f}", f"{1000 * row['warm_step_s']:.1f}",
                      f"{row['balance_s']:.2f} ({row['balance_steps']} steps)", advice,
                      "" if row["tokens_per_s"] is None else f"{row['tokens_per_s']:.1f}", f"{row['peak_rss_mb']:.0f}")
    Console(width=130).print(table)
    rules, separate, hf, alm = rows
    print(f"ALM vs rules: warm step {alm['warm_step_s'] / rules['warm_step_s']:.0f}x slower, "
          f"{alm['peak_rss_mb'] - rules['peak_rss_mb']:.0f} MB more memory; ALM prompt {alm['prompt_tokens']} tokens")
    print(f"one backbone in memory: load {separate['load_s']:.2f} -> {alm['load_s']:.2f} s, peak RSS "
          f"{separate['peak_rss_mb']:.0f} -> {alm['peak_rss_mb']:.0f} MB (issue 25's bar: <= 2 s, <= 1200 MB); the same "
          f"advice: {separate['advice'] == alm['advice']}, the same gains: {separate['gains'] == alm['gains']}")
    print(f"plain-torch forward vs transformers (one copy each): load {hf['load_s']:.2f} -> {alm['load_s']:.2f} s, peak "
          f"RSS {hf['peak_rss_mb']:.0f} -> {alm['peak_rss_mb']:.0f} MB; the same advice: {hf['advice'] == alm['advice']}, "
          f"the same gains: {hf['gains'] == alm['gains']}; transformers or peft imported: {alm['transformers_imported']}")
    print(f"first call: rules {rules['action']}, ALM {alm['action']} (an ALM step: listen, head, call head)")
    print(f"whole balance after loading: ALM {alm['balance_s']:.1f} s ({alm['balance_status']}), rules "
          f"{rules['balance_s']:.1f} s ({rules['balance_status']}); issue 16's bar for the ALM: <= 6 s on 2 cores")
    print(f"advice writing alone: drafted {alm['drafted_s']:.1f} s, token by token (baseline) {alm['one_by_one_s']:.1f} s "
          f"({alm['one_by_one_s'] / alm['drafted_s']:.1f}x); the same words: {alm['drafted'] == alm['one_by_one']}")
    for stem, sentence in alm["advice"].items():
        print(f"ALM advice, {stem}: {sentence}")
    failed = [r["planner"] for r in rows if r["action"] not in ("apply_gains", "measure_masking")]
    if failed:
        print(f"FAIL: no move proposed by {', '.join(failed)} on a spoiled session")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
