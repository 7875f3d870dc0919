"""``anchormix train``: the commands that train each learner (the ALM and its stages, the call head, the advice
writer, the role tagger, the intent model). Measuring them is anchormix/eval_cli.py; the corpus commands are
anchormix/corpus_cli.py, the user's commands anchormix/cli.py, every table anchormix/views.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from anchormix.model.corpus import find_sessions
from anchormix.model.names.held_out import debian_midi_names
from anchormix.model.names.ms21 import MS21_DEV, ms21_sets
from anchormix.model.intervals import load_table
from anchormix.model.shipped import DEFAULT_CHECKPOINT, intervals_path, ranges_path
from anchormix.tools.audio import write_text_atomic

from .views import console, progress, tagger_table

__all__ = ["add_parsers"]


def add_parsers(sub) -> None:
    """The ``train`` subcommand, its parser naming its function."""
    _train_parser(sub)


def _train_parser(sub) -> None:
    tr = sub.add_parser("train", help="train the ALM on a corpus (Accelerate; CPU or GPU)",
                        epilog="examples:\n  anchormix train --config model/conf/alm_listener.yaml   (the shipped run)\n"
                               "  anchormix train --config model/conf/alm_listener.yaml --steps 20 --out /tmp/alm\n"
                               "  anchormix train --intents\n"
                               "  anchormix train --names\n"
                               "  anchormix train --tagger --sessions corpus modules\n"
                               "  anchormix train --writer --sessions corpus modules\n"
                               "  anchormix train --calls --sessions corpus modules\n",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.set_defaults(func=_train)
    tr.add_argument("--config", type=Path, help="YAML training config (model/conf/...: the ALM's, or with --intents "
                    "the intent model's, with --names the name reader's)")
    tr.add_argument("--intents", action="store_true",
                    help="train the conversation's intent model instead (model/intent/intent_model.py, its config "
                         "model/conf/intent.yaml unless --config; ~5 min on 2 CPU cores)")
    tr.add_argument("--names", action="store_true",
                    help="train the name reader instead (model/names/name_reader.py, model/conf/names.yaml unless "
                         "--config; ~45 min on 2 CPU cores); scored once on real names it never saw: engineers' and "
                         "the MIDI track names of Debian's game music (data midi --debian installs those packages)")
    tr.add_argument("--tagger", action="store_true",
                    help="train the role tagger instead (model/tagger/role_tagger.py) on the stems of --sessions whose role "
                         "is known; prints its held-out accuracy (seconds on 2 CPU cores)")
    tr.add_argument("--writer", action="store_true",
                    help="train the advice writer instead (model/advice/writer.py) on oracle balances of the train split of "
                         "--sessions (~20 min on 2 CPU cores)")
    tr.add_argument("--calls", action="store_true",
                    help="fit the planner's call head (model/alm/call_head.py) on oracle planning states of --sessions, "
                         "the rest of the shipped checkpoint frozen, and write the checkpoint with it (~25 min)")
    tr.add_argument("--sessions", type=Path, nargs="+", default=[Path("corpus"), Path("modules")],
                    help="with --tagger, --writer or --calls: the corpora it learns from (default: corpus modules)")
    tr.add_argument("--steps", type=int, help="override the config's steps")
    tr.add_argument("--out", help="override the config's output folder")


def _train_tagger(args: argparse.Namespace) -> int:
    from anchormix.model.tagger import role_tagger as rt  # lazy: loads torch

    for root in args.sessions:
        find_sessions(root, None)  # names a folder that is not a corpus
    train, valid, test = (rt.labelled_stems(args.sessions, split) for split in ("train", "valid", "test"))
    if not train.roles or not valid.roles:
        raise ValueError(f"--sessions {' '.join(map(str, args.sessions))}: no labelled stems with cached features "
                         "in the train and valid splits; run `anchormix data features` first")
    config = rt.TaggerConfig.from_yaml()
    tagger = rt.train_tagger(train, config.epochs, config.seed, config.module_weight, config.lr, config.weight_decay)
    threshold = rt.choose_threshold(tagger, valid, config.valid_precision)
    report = {"train_stems": len(train.roles), "threshold": threshold,
              "valid": rt.tagger_accuracy(tagger, valid, threshold), "test": rt.tagger_accuracy(tagger, test, threshold)}
    path = tagger.save(Path(args.out) / "roles.safetensors" if args.out else rt.TAGGER_CHECKPOINT, threshold, report)
    console.print(tagger_table(report))
    console.print(f"wrote {path}; `anchormix data features --sessions DIR` tags the unnamed module stems with it")
    return 0


def _train_writer(args: argparse.Namespace) -> int:
    from anchormix.model.advice import sentences as wd  # lazy: loads torch and the LLM
    from anchormix.model.advice.writer import WRITER_CHECKPOINT  # lazy: as above

    sessions = [s for root in args.sessions for s in find_sessions(root, "train")]
    with progress() as bar:
        task = bar.add_task("oracle balances", total=len(sessions))
        examples = wd.writer_examples(sessions, 1, 0, load_table(intervals_path(DEFAULT_CHECKPOINT)),
                                      load_table(ranges_path(DEFAULT_CHECKPOINT)), lambda _: bar.advance(task))
    console.print(f"{len(examples)} sentences from {len(sessions)} train-split sessions")
    config = wd.WriterConfig.from_yaml()
    writer, summary = wd.train_writer(examples, args.steps or config.steps, config.batch, config.lr, config.seed,
                                      log=lambda line: console.print(line, highlight=False))
    path = writer.save(Path(args.out) / "writer.safetensors" if args.out else WRITER_CHECKPOINT)
    write_text_atomic(path.with_name("train.json"), json.dumps({**summary, "sessions": [str(r) for r in args.sessions]},
                                                               indent=2) + "\n")
    console.print(f"wrote {path}")
    return 0


def _train_calls(args: argparse.Namespace) -> int:
    from anchormix.model.alm.call_head import CallHeadConfig, fit_call_head  # lazy: loads torch and the LLM
    from anchormix.model.alm.build import load_checkpoint, save_checkpoint  # lazy: as above
    from anchormix.model.features import load_corpus  # lazy: as above

    alm = load_checkpoint(DEFAULT_CHECKPOINT)
    train, valid = ([s for root in args.sessions for s in load_corpus(root, split)] for split in ("train", "valid"))
    config = CallHeadConfig.from_yaml()
    report = fit_call_head(alm, train, valid, args.steps or config.states, config.seed, config.max_stems,
                           log=lambda line: console.print(line, highlight=False), epochs=config.epochs, lr=config.lr)
    folder = Path(args.out) if args.out else DEFAULT_CHECKPOINT.parent
    meta = json.loads((DEFAULT_CHECKPOINT.parent / "train.json").read_text(encoding="utf-8"))
    save_checkpoint(alm, folder, {**meta, "call_head": {**report, "sessions": [str(r) for r in args.sessions]}})
    console.print(f"wrote {folder / 'alm.safetensors'} (call head on {report['inputs']}: valid call accuracy "
                  f"{report['valid'][report['inputs']]['call_accuracy']:.1%})")
    return 0


def _train_names(args: argparse.Namespace) -> int:
    from anchormix.model.names.name_reader import (DEFAULT_NAMES_CHECKPOINT, NameConfig,  # lazy: loads torch
                                                   train_name_reader)

    midi = debian_midi_names()
    config = NameConfig.from_yaml(args.config) if args.config else NameConfig.from_yaml()
    held_out = {**ms21_sets(), **({"midi": midi} if midi else {})}
    real = held_out.pop(MS21_DEV) if config.ms21_dev else []  # MS21's train sessions: trained on, no longer held out
    if not midi:
        console.print("note: no Debian MIDI package installed; the name reader is scored on engineers' names only "
                      "(`anchormix data midi --debian --install` brings them)", style="yellow")
    out = Path(args.out) / "names.safetensors" if args.out else DEFAULT_NAMES_CHECKPOINT
    train_name_reader(config, held_out, out, log=lambda line: console.print(line, highlight=False), real=real)
    console.print(f"wrote {out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.tagger:
        return _train_tagger(args)
    if args.writer:
        return _train_writer(args)
    if args.calls:
        return _train_calls(args)
    if args.names:
        return _train_names(args)
    if args.intents:
        from anchormix.model.intent.intent_model import (DEFAULT_INTENT_CHECKPOINT, IntentConfig,  # lazy: loads torch
                                                  train_intents)

        out = Path(args.out) / "intent.safetensors" if args.out else DEFAULT_INTENT_CHECKPOINT
        config = IntentConfig.from_yaml(args.config) if args.config else IntentConfig.from_yaml()
        train_intents(config, out, log=lambda line: console.print(line, highlight=False))
        console.print(f"wrote {out}")
        return 0
    from anchormix.model.alm.train import TrainConfig, train  # lazy: loads torch and the LLM

    if args.config is None:
        raise ValueError("train: give --config model/conf/<name>.yaml (the ALM) or --intents")
    config = TrainConfig.from_yaml(args.config)
    config.steps = args.steps if args.steps is not None else config.steps
    config.out = args.out or config.out
    summary = train(config, log=lambda line: console.print(line, highlight=False))
    console.print(f"trained {config.steps} steps in {summary['wall_s']:.0f} s on {summary['device']}; "
                  f"checkpoint {config.out}/alm.safetensors")
    return 0
