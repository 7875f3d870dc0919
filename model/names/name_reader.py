"""The name reader: SmolLM2, fine-tuned on generated track names, reads a person's track name as a role.

"Kin", "OHR_07", "BkV3", "wurlz hi": engineers abbreviate, number, take and
side their tracks in ways no pattern list keeps up with, and reading them is a
language model's job. The name (and its camelCase and separators spelled out)
goes through a prompt into the backbone with LoRA adapters; a linear head over
:data:`~anchormix.tools.conventions.ROLES` gives each role a probability
(model/text_classifier.py, the learner the intent model shares). A name with
numbers in it is read twice, as typed and without its numbers ("OHR_07" and
"OHR"), a name with recording gear in it also without the gear ("Drums-Kick
In-M82" as "Drums-Kick In"), and a short abbreviation with a mic position glued
on ("Kin", "Sntop") once more with the position parted ("K in"); the readings'
probabilities are averaged (:func:`readings`): track, take and channel numbers
rarely say a role, and they, a mic's or preamp's name and a glued position can
tip a short name (on generated names of another seed, 72.4 % read right as
typed, 77.7 % with the numbers' reading; on the MS21 dev names, ad hoc, 75.1 %
without the gear's reading, 77.1 % with it). It is
trained on names generated from role vocabularies (model/names/vocabulary.py)
and on real engineers' names (the MS21 dev names, model/names/ms21.py), and
measured on real names it never saw (model/names/held_out.py, MS21's held-out part).

    anchormix train --names          # ~45 min on 2 CPU cores; writes model/checkpoints/names/

Every hyper-parameter is in model/conf/names.yaml (:class:`NameConfig`).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from anchormix.model.shipped import DEFAULT_NAMES_CHECKPOINT
from anchormix.model.text_classifier import ClassifierConfig, TextClassifier, fine_tune, train_head
from anchormix.tools.conventions import ROLES
from anchormix.tools.session import infer_role  # the pattern matcher it is measured against

from .held_out import DRUM_ROLES, ENGINEERS
from .vocabulary import GLUED_POSITIONS, generate_names

__all__ = ["NameConfig", "NameReader", "GEAR", "spelled_out", "without_gear", "without_numbers", "with_position_parted",
           "readings", "scored", "patterns_then", "training_names", "role_targets", "train_name_reader",
           "DEFAULT_NAMES_CHECKPOINT"]


@dataclass
class NameConfig(ClassifierConfig):
    """The name reader's hyper-parameters (model/conf/names.yaml holds the shipped values)."""

    FILE = "names.yaml"

    per_role: int = 200  # generated training names per role
    valid_per_role: int = 40  # generated names (another seed) to check the fit on
    ms21_dev: bool = False  # train on MS21's dev names too (its train sessions; each as its class's first role)
    every_role: bool = False  # a real name is right as any role its class stands for (model/text_classifier.label_loss)
    generated_repeats: int = 1  # each generated name this many times a pass: weighs them against the real ones
    glued: float = 0.0  # share of generated kick and snare names with a glued mic position ("Kin", "SDtop")


def spelled_out(name: str) -> str:
    """"BkV3" -> "bk v 3", "LDVoc147" -> "ld voc 147", "OHR_07" -> "ohr 07": the parts a name is made of."""
    text = re.sub(r"([a-z])([A-Z])|([A-Z])([A-Z][a-z])", lambda m: " ".join(g for g in m.groups() if g), name.strip())
    text = re.sub(r"([A-Za-z])(\d)|(\d)([A-Za-z])", lambda m: " ".join(g for g in m.groups() if g), text)
    return re.sub(r"[_\-.\s()\[\]]+", " ", text).strip().lower()


def without_numbers(name: str) -> str | None:
    """"OHR_07" -> "OHR", "Keyz.09.L" -> "Keyz.L", "01_Kin" -> "Kin": the name less its numbers and the separators
    they leave; None where that changes nothing or leaves no letter."""
    text = re.sub(r"\d+", " ", name.strip())
    text = re.sub(r"([\s_\-.])[\s_\-.]+", r"\1", text).strip(" _-.")
    return text if text != name.strip() and re.search(r"[A-Za-z]", text) else None


_GLUED = re.compile(rf"(?<![A-Za-z])(?:([A-Za-z][a-z]{{0,2}})({'|'.join(GLUED_POSITIONS)})|"
                    rf"([A-Z]{{1,3}})({'|'.join(GLUED_POSITIONS).upper()}))(?![A-Za-z])")


def with_position_parted(name: str) -> str | None:
    """"Kin" -> "K in", "KOUT" -> "K OUT", "01_Sntop" -> "01_Sn top": a word of a short abbreviation and a glued
    mic position (in the word's case), parted; None where no word is one ("Violin", "Kick In", "SnTop", whose parts
    camel case already tells)."""
    text = _GLUED.sub(lambda m: " ".join(g for g in m.groups() if g), name.strip())
    return text if text != name.strip() else None


# Recording gear engineers write into a track's name ("Drums-Kick In-M82", "FIDDLE-AK47-VINTECH 573-LA3A"): mic
# models, preamps, consoles, compressors, DI boxes: the field's catalogue, the list completed from the MS21 dev names
# (model/names/ms21.py), never from its held-out ones. A name is also read without them (:func:`without_gear`).
GEAR = ("u47", "u67", "u87", "u89", "km84", "km184", "tlm103", "tlm102", "tlm170", "c414", "c12", "c451", "sm57",
        "sm58", "sm7", "sm7b", "beta52", "beta57", "beta91", "d112", "md421", "e609", "e906", "re20", "m160", "m201",
        "r121", "m80", "m81", "m82", "m88", "m60", "m260", "ela m 251", "ela m 260", "ela m", "ak47", "ar51", "ar70",
        "cu29", "ksm32", "ksm44", "at4050", "nt1", "nt5", "c214", "pr40", "e602", "md441", "coles", "royer", "neumann",
        "shure", "sennheiser", "akg", "api", "neve", "ssl", "bae", "vintech", "daking", "grace", "chandler", "avalon",
        "millennia", "focusrite", "isa", "la2a", "la3a", "1176", "cl1b", "distressor", "dbx", "fairchild", "pultec",
        "lachapell", "radial", "countryman", "duality", "1073", "1073lb", "1081", "1084", "1608", "33102", "6000e",
        "4000e", "9000j", "ssl6000e", "ssl4000e", "ssl9000j", "573", "312", "512c", "610", "sh", "lb", "mk2", "mkii")
_GEAR_WORDS = sorted((re.escape(g).replace(r"\ ", "[ _-]?") for g in GEAR), key=len, reverse=True)
_GEAR = re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(_GEAR_WORDS)})(?![A-Za-z0-9])", re.IGNORECASE)


def without_gear(name: str) -> str | None:
    """"Drums-Kick In-M82" -> "Drums-Kick In", "LD VOX ALTO A-U47-SSL6000E" -> "LD VOX ALTO A": the name less the
    recording gear it names (:data:`GEAR`) and the separators left over; None where that changes nothing or leaves no
    letter."""
    if not _GEAR.search(name):
        return None
    text = _GEAR.sub(" ", name.strip())
    text = re.sub(r"([\s_\-.])[\s_\-.]+", r"\1", text).strip(" _-.")
    return text if text != name.strip() and re.search(r"[A-Za-z]", text) else None


def readings(name: str) -> list[str]:
    """The ways a name is read, distinct: as typed, without its gear, without its numbers (of those two), and with a
    glued position parted (of each of those)."""
    found = [name, without_gear(name)]
    found += [without_numbers(text) for text in found if text]
    found += [with_position_parted(text) for text in found if text]
    return list(dict.fromkeys(text for text in found if text))


class NameReader(TextClassifier):
    """A track name's role over :data:`ROLES`, with the probability the model gives it."""

    LABELS = tuple(ROLES)
    PROMPT = "Mixing session track name: {text}\n"  # short: a name is a few tokens, the prompt need not be many
    CONFIG = NameConfig
    LABELS_KEY = "roles"
    MISSING = "no name reader checkpoint (train one with `anchormix train --names`)"

    def prompt(self, text: str) -> str:
        return super().prompt(f"{text.strip()[:80]} ({spelled_out(text[:80])})")

    @torch.no_grad()
    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """``(N, roles)``: each name's, averaged over its :func:`readings`."""
        each = [readings(t) for t in texts]
        found = super().probabilities([text for ways in each for text in ways])
        starts = torch.tensor([0] + [len(ways) for ways in each]).cumsum(0).tolist()
        return torch.stack([found[a:b].mean(dim=0) for a, b in zip(starts, starts[1:])])

    def read(self, names: list[str]) -> list[tuple[str, float]]:
        """(role, probability) of each name, in order."""
        if not names:
            return []
        probabilities = self.probabilities(names)
        best = probabilities.argmax(dim=1)
        return [(ROLES[int(k)], float(probabilities[i, k])) for i, k in enumerate(best)]

    @classmethod
    def load(cls, path: str | Path = DEFAULT_NAMES_CHECKPOINT, llm=None, tokenizer=None) -> "NameReader":
        return super().load(path, llm, tokenizer)


def right(role: str, truth: str, drums_channel: bool = False) -> bool:
    """Whether ``role`` reads ``truth`` right: ``truth`` is a role or roles "|"-joined (any of them is right, as for
    a synthesizer: keys|pad|lead); on a MIDI drum channel any drum role is."""
    return role in truth.split("|") or (drums_channel and truth == "drums" and role in DRUM_ROLES)


def held_out_scores(read: dict[str, str], sets: dict[str, list[tuple[str, str]]]) -> dict[str, dict]:
    """Per held-out set: the share of names ``read`` (name -> role) gets right, and its misses."""
    scores = {}
    for label, examples in sets.items():
        drums = label.startswith("midi")
        hits = [right(read[n], truth, drums) for n, truth in examples]
        scores[label] = {"n": len(examples), "accuracy": round(sum(hits) / len(examples), 3),
                         "misses": [[n, truth, read[n]] for (n, truth), hit in zip(examples, hits) if not hit]}
    return scores


def patterns_then(read: str, name: str) -> str:
    """The role a session gives a stem from its name (tools/session.py, then model/names/role_reader.py): the
    patterns' where they say one, else what the name reader ``read``."""
    found = infer_role(name)
    return read if found == "other" else found


def scored(model: NameReader, sets: dict[str, list[tuple[str, str]]]) -> dict[str, dict[str, dict]]:
    """:func:`held_out_scores` of the name reader ``model``, of the pattern matcher, and of the two as a session uses
    them (:func:`patterns_then`) on each of ``sets``."""
    every = sorted({n for examples in sets.values() for n, _ in examples})
    read = dict(zip(every, (role for role, _ in model.read(every))))
    patterns = {n: infer_role(n) for n in every}
    return {"name reader": held_out_scores(read, sets), "patterns": held_out_scores(patterns, sets),
            "patterns, then name reader": held_out_scores({n: patterns_then(read[n], n) for n in every}, sets)}


def training_names(config: NameConfig, held_out: dict[str, list[tuple[str, str]]],
                   real: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The generated names to train on (each ``generated_repeats`` times; ``glued`` of the kick and snare names with a
    glued position), and the ``real`` ones (name, "|"-joined roles: the first is trained on, or all of them with
    ``every_role``), less any that a held-out set holds (a plain "Keys" is generated too, a "Kin" with ``glued``)."""
    kept_out = {n.strip().lower() for examples in held_out.values() for n, _ in examples}
    names = [*generate_names(config.per_role, config.seed, config.glued) * config.generated_repeats,
             *((n, roles if config.every_role else roles.split("|")[0]) for n, roles in real)]
    return [(n, r) for n, r in names if n.strip().lower() not in kept_out]


def role_targets(roles: list[str]) -> torch.Tensor:
    """The labels :func:`~anchormix.model.text_classifier.label_loss` takes for names' roles: each role's index, or,
    where any name may be read as several ("keys|pad|lead"), a row of the roles each may be read as."""
    unknown = sorted({one for r in roles for one in r.split("|")} - set(ROLES))
    if unknown:
        raise ValueError(f"roles outside the role vocabulary: {unknown}")
    if not any("|" in r for r in roles):
        return torch.tensor([ROLES.index(r) for r in roles])
    return torch.tensor([[label in r.split("|") for label in ROLES] for r in roles])


def train_name_reader(config: NameConfig, held_out: dict[str, list[tuple[str, str]]],
                      out: Path = DEFAULT_NAMES_CHECKPOINT, log=print, real: list[tuple[str, str]] = ()) -> dict:
    """Fine-tune the name reader on generated names and ``real`` ones; report it and the pattern matcher on
    ``held_out`` (which nothing here trains or tunes on: it is scored once, after training)."""
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    model = NameReader(config=config)
    sets = {"engineers": ENGINEERS, **held_out}
    train = training_names(config, sets, real)
    valid = [(n, r) for n, r in generate_names(config.valid_per_role, config.seed + 1) if n not in dict(train)]
    texts, y = [n for n, _ in train], role_targets([r for _, r in train])
    train_head(model, texts, y, config)
    log(f"name reader: head on the frozen backbone, {len(train)} training names, "
        f"{len(train) - len(training_names(config, sets))} of them real ({time.perf_counter() - started:.0f} s)")
    fine_tune(model, texts, y, config, log)
    acc_valid = sum(role == r for (_, r), (role, _) in zip(valid, model.read([n for n, _ in valid]))) / len(valid)
    scores = scored(model, sets)
    meta = {"train_names": len(train), "valid_names": len(valid), "valid_accuracy": round(acc_valid, 3),
            "held_out": scores, "config": asdict(config), "wall_s": round(time.perf_counter() - started, 1)}
    model.save(Path(out), meta)
    log(f"generated valid names ({len(valid)}): {acc_valid:.1%}; {meta['wall_s']:.0f} s in all")
    for label in sets:
        log(f"held-out {label} ({scores['patterns'][label]['n']} names): patterns "
            f"{scores['patterns'][label]['accuracy']:.1%}, name reader {scores['name reader'][label]['accuracy']:.1%}")
    return meta
