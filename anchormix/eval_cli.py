"""``anchormix eval``: the planners side by side on the same draws, both protocols, one-shot or through the agent
loop (model/evaluation/ computes; this prints, and writes the JSON, the intervals and the calibration plot).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from anchormix.agent import MAX_STEPS
from anchormix.agent.grounding import advice_checks, advice_summary
from anchormix.model.corpus import find_sessions
from anchormix.model.evaluation.evaluate import PROTOCOLS, level_spread, run_agent_protocol, run_protocol, summarise
from anchormix.model.evaluation.folds import FOLD_KEYS, run_folds
from anchormix.model.intervals import coverage_by_role, fit_intervals, load_table, write_intervals
from anchormix.model.shipped import DEFAULT_CHECKPOINT, intervals_path, ranges_path
from anchormix.tools.audio import write_text_atomic
from anchormix.tools.conventions import ROLES

from .plots import calibration_svg
from .planners import LEARNT, LOOP_PLANNERS, PREDICTORS, check_planner, make_learnt, make_predictor, planner_factory
from .views import (advice_check_table, advice_example, advice_examples_markdown, agent_eval_table, console,
                    eval_tables, progress)

__all__ = ["add_parsers"]

EPILOG_EVAL = """examples:
  anchormix eval --sessions corpus --split test --planner none,loudness,constant,conventions,rules --draws 5 --seed 0
  anchormix eval --sessions my_sessions --planner loudness,rules --conventions corpus/conventions.json
  anchormix eval --sessions corpus --split test --agent --planner rules,alm
  anchormix eval --sessions corpus --split test --protocol both --planner none,loudness,constant,conventions,rules,alm
  anchormix eval --sessions lmms --split all --folds producer --protocol flat --planner none,constant,rules,peaks,peaks-fitted
"""



def add_parsers(sub) -> None:
    """The ``eval`` subcommand, its parser naming its function."""
    _eval_parser(sub)


def _eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="AnchorBalance protocol: planners side by side on the same draws",
                        epilog=EPILOG_EVAL, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.set_defaults(func=_eval)
    ev.add_argument("--sessions", type=Path, required=True, help="folder of sessions (a corpus or your own)")
    ev.add_argument("--split", default="test",
                    help="train, valid, test, or all (default: test); a folder without a manifest is evaluated whole")
    ev.add_argument("--planner", help="comma-separated: none, loudness, constant, conventions, rules, peaks, "
                    "peaks-fitted (the peak planner's two numbers fitted on the train split), alm; ablations of the "
                    "same weights: alm-text (the numbers as its LM writes them), alm-listener (the listener alone, "
                    "no LLM), alm-nogenre (genre withheld). Default: none,loudness,constant,conventions,rules; "
                    "with --agent: rules,alm")
    ev.add_argument("--protocol", choices=(*PROTOCOLS, "both"), default="perturb",
                    help="perturb: every stem moved by U(-12, +12) dB (AnchorBalance); flat: every stem starts at the "
                         "anchor's loudness; both (default: perturb)")
    ev.add_argument("--draws", type=int, default=5, help="random perturbations per session (default: 5)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the perturbations (default: 0)")
    ev.add_argument("--conventions", type=Path, help="conventions table (default: SESSIONS/conventions.json or the train split)")
    ev.add_argument("--folds", choices=FOLD_KEYS,
                    help="leave one group out: score every session of --split, each by the constant, conventions and "
                         "peaks-fitted learnt from the other groups' sessions alone (producer: an LMMS demo's; package: the "
                         "Debian package), and print the MAE per group")
    ev.add_argument("--limit", type=int, help="evaluate at most this many sessions")
    ev.add_argument("--anchor-role", choices=ROLES, metavar="ROLE",
                    help="balance against each session's loudest stem of this role (e.g. kick) instead of its anchor; "
                         "sessions without one are left out")
    ev.add_argument("--checkpoint", type=Path, help="ALM checkpoint for alm and its ablations (default: the shipped one)")
    ev.add_argument("--json", type=Path, dest="json_out", help="write the metrics to this JSON file")
    ev.add_argument("--fit-intervals", type=Path, metavar="FILE",
                    help="fit the ALM's 80 %% intervals on this split's errors (per role, split-conformal) and write "
                         "them to FILE (the shipped ones: model/checkpoints/alm/intervals.json); needs --planner alm")
    ev.add_argument("--calibration-plot", type=Path, metavar="SVG",
                    help="with --planner alm: plot the share of targets inside its 80 %% intervals, per role and protocol")
    ev.add_argument("--agent", action="store_true",
                    help="run the whole agent loop per draw (planners: rules, alm) and report iterations, "
                         "convergence and tool calls")
    ev.add_argument("--max-steps", type=int, default=MAX_STEPS, help=f"step cap of the loop with --agent (default: {MAX_STEPS})")
    ev.add_argument("--advice", action="store_true",
                    help="with --agent --planner alm: check every move's advice against its trace (explained, claims "
                         "grounded, move figure = applied, length), the model's writer and the template side by side")
    ev.add_argument("--advice-examples", type=Path, metavar="FILE",
                    help="with --advice: write the first 20 balances' advice, model and template, to FILE (Markdown)")


def _planner_names(args: argparse.Namespace, default: str) -> list[str]:
    return [p.strip() for p in (args.planner or default).split(",") if p.strip()]


def _flagged(flag: str, make, *values):
    """``make(*values)``, its ValueError said as a usage error of ``flag``."""
    try:
        return make(*values)
    except ValueError as err:
        raise ValueError(f"{flag}: {err}") from None


def _protocols(args: argparse.Namespace) -> list[str]:
    return list(PROTOCOLS) if args.protocol == "both" else [args.protocol]


def _heading(args: argparse.Namespace, protocol: str, sessions: int) -> str:
    draws = f"{args.draws} draws, seed {args.seed}" if protocol == "perturb" else "one flat start each"
    name = "AnchorBalance" if protocol == "perturb" else "Flat start"
    anchor = f", against the {args.anchor_role}" if args.anchor_role else ""
    folds = f", each {args.folds} left out of what is learnt" if args.folds else ""
    return f"{name} on {args.sessions} split={args.split}{anchor}{folds}: {sessions} sessions x {draws}"


def _write_json(path: Path | None, body: dict) -> None:
    if path:
        write_text_atomic(path, json.dumps(body, indent=2) + "\n")
        console.print(f"wrote {path}")


def _eval_agent(args: argparse.Namespace, sessions: list[tuple[Path, str]], names: list[str]) -> int:
    if (args.advice or args.advice_examples) and "alm" not in names:
        raise ValueError("--advice: checks the ALM's written advice; add alm to --planner")
    factories = {name: _flagged("--planner", planner_factory, name, args.checkpoint, args.advice) for name in names}
    body = {}
    ranges = load_table(ranges_path(args.checkpoint or DEFAULT_CHECKPOINT))
    examples: list[str] = []
    for protocol in _protocols(args):
        checked: dict[str, list] = {"model, as written": [], "model": [], "template": []}

        def check(draw, name: str, state: dict, planner) -> None:
            if args.advice and name == "alm":
                found = advice_checks(state, draw.session.roles, ranges)
                raw = advice_checks({**state, "written": state.get("written_raw") or {}}, draw.session.roles,
                                    ranges)["model"]
                for source, rows in {**found, "model, as written": raw}.items():
                    checked[source] += rows
                if len(examples) < 20 and state.get("written"):
                    examples.append(advice_example(f"{draw.folder.name} ({protocol}, draw {draw.draw})", state,
                                                   {**found, "model, as written": raw}))

        with progress() as bar:
            task = bar.add_task(f"balancing ({protocol})", total=len(sessions))
            result = run_agent_protocol(sessions, factories, args.draws, args.seed, args.max_steps,
                                        lambda _: bar.advance(task), protocol, check, args.anchor_role)
        summaries = {name: result.summary(name) for name in names}
        title = f"Agent loop, {_heading(args, protocol, len(sessions))}, step cap {args.max_steps}"
        console.print(agent_eval_table(title, summaries))
        body[protocol] = {"sessions": len(sessions), "draws": args.draws, "seed": args.seed, "split": args.split,
                          "summary": summaries, "runs": result.runs}
        if args.advice:
            advice = {source: advice_summary(rows) for source, rows in checked.items()}
            console.print(advice_check_table(f"Advice check, {_heading(args, protocol, len(sessions))}", advice))
            body[protocol]["advice"] = advice
    if args.advice_examples:
        write_text_atomic(args.advice_examples, advice_examples_markdown(examples, " ".join(sys.argv[1:])))
        console.print(f"wrote {args.advice_examples}")
    console.print("iterations: planner calls per balance; tool calls: registry calls the planner chose "
                  "(apply_gains, measure_masking, ...), listens not counted", style="dim")
    _write_json(args.json_out, body if args.protocol == "both" else body[args.protocol])
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.folds and args.conventions:
        raise ValueError("--folds learns the constant and conventions from the other groups: drop --conventions")
    choices = LOOP_PLANNERS if args.agent else PREDICTORS
    names = _planner_names(args, ",".join(LOOP_PLANNERS) if args.agent else "none,loudness,constant,conventions,rules")
    for name in names:  # every name checked before any work
        _flagged("--planner", check_planner, name, choices, args.checkpoint)
    sessions = find_sessions(args.sessions, None if args.split == "all" else args.split)[: args.limit]
    if args.agent:
        if args.folds:
            raise ValueError("--folds scores the one-shot planners; the agent loop learns nothing per fold")
        return _eval_agent(args, sessions, names)
    if args.fit_intervals and "alm" not in names:
        raise ValueError("--fit-intervals: fits the ALM's intervals; add alm to --planner")
    fits: dict[str, dict] = {}  # peaks-fitted's numbers: per fold left out, or of the train split
    predictors = {name: _flagged("--planner", make_predictor, name, args.sessions, args.conventions, args.checkpoint,
                                 args.anchor_role, _fit_recorder(fits, "train split"))
                  for name in names if not (args.folds and name in LEARNT)}
    learn = _learner(args, fits)
    body: dict = {}
    fitted: dict[str, list[float]] = {}
    calibrated: dict[str, dict] = {}
    for protocol in _protocols(args):
        result, by_fold = _score(args, sessions, names, predictors, protocol, learn)
        if not result.sessions:  # only --anchor-role leaves sessions out
            raise ValueError(f"--anchor-role {args.anchor_role}: no session of {args.sessions} (split {args.split}) has "
                             f"an audible stem of that role to balance against")
        overall = {p: {**summarise(result.errors.get(p, [])), **level_spread(result.levels.get(p, [])),
                       "mae_after_anchor_move_db": summarise(result.after_anchor_move.get(p, [])).get("mae_db")}
                   for p in names}
        groups = {"source": result.by_source, "role": result.by_role, "genre": result.by_genre,
                  **({args.folds: by_fold} if args.folds else {})}
        for table in eval_tables(_heading(args, protocol, result.sessions), names, overall, groups, summarise):
            console.print(table)
        if "alm" in names:
            for role, errors in result.by_role["alm"].items():
                fitted.setdefault(role, []).extend(errors)
            calibrated[protocol] = _calibration(args, result.by_role["alm"])
            overall["alm"]["inside_80_interval"] = calibrated[protocol].get("all", (None,))[0]
        body[protocol] = {"sessions": result.sessions, "draws": args.draws, "seed": args.seed, "split": args.split,
                          "anchor_role": args.anchor_role, "folds": args.folds, "peaks_fitted": dict(fits) or None,
                          "overall": overall, **{f"by_{label}": {p: {k: summarise(v) for k, v in by[p].items()}
                                                                 for p in names} for label, by in groups.items()},
                          "by_session": {p: {k: round(summarise(v)["mae_db"], 4)
                                             for k, v in result.by_session[p].items()}
                                         for p in names}}
        for p in names:  # each source's MAE after the anchor's move beside its MAE
            for source, moved in result.after_anchor_move_by_source.get(p, {}).items():
                body[protocol]["by_source"][p][source]["mae_after_anchor_move_db"] = summarise(moved)["mae_db"]
    _write_json(args.json_out, body if args.protocol == "both" else body[args.protocol])
    if args.calibration_plot and any(calibrated.values()):
        title = f"The ALM's 80 % intervals on {args.sessions} split={args.split} ({len(sessions)} sessions)"
        console.print(f"wrote {calibration_svg(calibrated, args.calibration_plot, title)}")
    if args.fit_intervals:
        intervals = fit_intervals(fitted)
        path = write_intervals(args.fit_intervals, intervals, f"{args.sessions} split={args.split} protocol={args.protocol}")
        console.print(f"wrote {path}: 80 % half-widths per role (pooled {intervals['pooled']:.1f} dB)")
    return 0


def _fit_recorder(fits: dict[str, dict], label: str):
    """``on_fit`` for a learnt peak planner: its weight and offset kept in ``fits`` under ``label`` and printed."""

    def record(planner) -> None:
        fits[label] = {"weight": planner.weight, "offset_db": round(planner.offset_db, 2)}
        console.print(f"peaks-fitted ({label}): weight {planner.weight:.2f}, each stem's peak "
                      f"{planner.offset_db:+.2f} dB from the anchor's", style="dim")

    return record


def _learner(args: argparse.Namespace, fits: dict[str, dict]):
    """``learn(name, label, train)``: the learnt predictor ``name`` of one fold, its fitted numbers kept in ``fits``
    under ``label``; each song's peak rows are measured once for every fold and protocol."""
    measured: dict = {}

    def learn(name: str, label: str, train: list[tuple[Path, str]]):
        return make_learnt(name, args.sessions, train, args.anchor_role, _fit_recorder(fits, label), measured)

    return learn


def _score(args: argparse.Namespace, sessions: list[tuple[Path, str]], names: list[str], predictors: dict,
           protocol: str, learn) -> tuple:
    """One protocol's evaluation and, with ``--folds``, each planner's errors per fold (else {}); ``learn(name,
    label, train)``: a learnt predictor of one fold."""
    with progress() as bar:
        task = bar.add_task(f"evaluating ({protocol})", total=len(sessions))
        if not args.folds:
            return run_protocol(sessions, predictors, args.draws, args.seed, lambda _: bar.advance(task), protocol,
                                args.anchor_role), {}

        def predictors_for(group: str, train: list[tuple[Path, str]]) -> dict:
            return {n: predictors[n] if n in predictors else learn(n, f"{group} left out", train) for n in names}

        return run_folds(sessions, predictors_for, args.folds, args.draws, args.seed, lambda _: bar.advance(task),
                         protocol, args.anchor_role)


def _calibration(args: argparse.Namespace, by_role: dict[str, list[float]]) -> dict[str, tuple[float, int]]:
    """The share of the ALM's errors inside its shipped 80 % intervals, per role and "all" (printed; {} when it has
    none or is fitting them)."""
    intervals = load_table(intervals_path(args.checkpoint or DEFAULT_CHECKPOINT))
    if intervals is None or args.fit_intervals:
        return {}
    shares = coverage_by_role(intervals, by_role)
    console.print(f"alm: {100 * shares['all'][0]:.0f} % of targets inside its stated 80 % interval "
                  f"(fitted on {intervals.get('fitted_on', '?')}; honest: 70-90 %)")
    return shares
