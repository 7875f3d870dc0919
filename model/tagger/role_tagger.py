"""The role tagger: which role a stem plays, by ear, for module stems whose names do not say.

A stem is described by the shape of its spectrum and how it moves in time, never
by its level: per mel band, the mean over the frames where it plays minus its
overall level and the spread over those frames, plus the share of frames where
it plays, how much its frame loudness varies and how sharply it rises (onsets).
A small MLP over that descriptor is trained on stems whose role is known: every
MIDI corpus stem (its General MIDI program and channel say) and the module stems
named after their instrument. Held out: the MIDI test split and the named stems
of the module test packages, so the accuracy it reports is on songs it never heard.

A prediction below the confidence threshold is ``other``: a wrong role is worse
than none (the listener and the conventions read it). The threshold is the lowest
at which the validation split's tags are 90 % right; it ships with the weights. A whole drum loop is the
``drums`` role, a kit in one stem, as the MIDI corpus's channel 10 is.

    anchormix train --tagger --sessions corpus modules   # trains, prints the held-out accuracy, ships it
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from anchormix.tools.audio import write_text_atomic
from anchormix.tools.session import SESSION_FILE

from anchormix.model.config import FromYaml
from anchormix.model.corpus import find_sessions, load_manifest, write_manifest
from anchormix.model.features import N_MELS
from anchormix.model.weights import load_weights, save_weights

__all__ = ["TAGGER_CHECKPOINT", "describe", "RoleTagger", "labelled_stems", "train_tagger", "choose_threshold",
           "tagger_accuracy", "tag_unnamed"]

TAGGER_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "roles" / "roles.safetensors"
MODULE_WEIGHT = 4.0  # a named module stem counts this many MIDI stems in the loss
VALID_PRECISION = 0.9  # the threshold is the lowest at which the validation split's tags are this right
_PLAYING_DB = 40.0  # a frame within this of the stem's loudest (and above -90 dB) is one where it plays


def describe(mel: np.ndarray) -> np.ndarray:
    """Level-free descriptor ``(2 * N_MELS + 3,)`` of one stem's log-mel ``(N_MELS, T)`` (module doc)."""
    mel = mel.astype(np.float64)
    power = 10.0 * np.log10(np.power(10.0, mel / 10.0).sum(axis=0) + 1e-20)  # (T,)
    playing = power > max(power.max() - _PLAYING_DB, -90.0)
    if not playing.any():
        playing[:] = True
    heard, loud = mel[:, playing], power[playing]
    level = loud.mean()
    rises = np.maximum(np.diff(power), 0.0)
    return np.concatenate([(heard.mean(axis=1) - level) / 20.0, heard.std(axis=1) / 10.0,
                           [playing.mean(), loud.std() / 10.0, rises.mean() / 5.0]]).astype(np.float32)


class RoleTagger(nn.Module):
    """Descriptor -> role probabilities over ``roles`` (inputs standardised by the training set's statistics)."""

    def __init__(self, roles: list[str], mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> None:
        super().__init__()
        width = 2 * N_MELS + 3
        self.roles = list(roles)
        self.register_buffer("mean", torch.zeros(width) if mean is None else mean)
        self.register_buffer("std", torch.ones(width) if std is None else std)
        self.mlp = nn.Sequential(nn.Linear(width, 128), nn.GELU(), nn.Dropout(0.2), nn.Linear(128, len(roles)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.mean) / self.std)

    @torch.no_grad()
    def tag(self, mel: Iterable[np.ndarray], threshold: float) -> list[tuple[str, float]]:
        """(role, confidence) per stem of ``mel`` ``(S, N_MELS, T)`` (or any iterable of ``(N_MELS, T)``: each is
        described as it comes); "other" where the confidence is under ``threshold`` (the confidence is still the
        best role's)."""
        self.eval()
        probs = torch.softmax(self(torch.from_numpy(np.stack([describe(m) for m in mel]))), dim=1)
        best, index = probs.max(dim=1)
        return [(self.roles[i] if p >= threshold else "other", float(p)) for p, i in zip(best.tolist(), index.tolist())]

    def save(self, path: Path, threshold: float, report: dict) -> Path:
        """Weights, roles, threshold and the held-out report in one safetensors file (atomic)."""
        return save_weights(path, self.state_dict(), {"roles": json.dumps(self.roles), "threshold": str(threshold),
                                                      "report": json.dumps(report)})

    @classmethod
    def load(cls, path: Path = TAGGER_CHECKPOINT) -> tuple["RoleTagger", float, dict]:
        """The tagger at ``path``, its threshold and the held-out report it was shipped with."""
        state, meta = load_weights(path, "no role tagger; train one with `anchormix train --tagger`")
        tagger = cls(json.loads(meta["roles"]))
        tagger.load_state_dict(state)
        return tagger.eval(), float(meta["threshold"]), json.loads(meta["report"])


@dataclass
class Labelled:
    """Stems whose role is known, as descriptors, with where they came from (for held-out reports)."""

    x: np.ndarray  # (N, D)
    roles: list[str]
    source: list[str]  # "midi" or "module"


def labelled_stems(roots: list[Path], split: str) -> Labelled:
    """The stems of ``split`` whose role is known: every MIDI/procedural stem, module stems named after their
    instrument or samples (the manifest's role source says); ``other`` is never a label."""
    xs, roles, sources = [], [], []
    for root in roots:
        entries = load_manifest(root)["sessions"]
        for folder, _ in find_sessions(root, split):
            entry, cache = entries.get(folder.name, {}), Path(root) / "features" / f"{folder.name}.npz"
            if not cache.exists():
                continue
            meta = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
            named = entry.get("role_sources")  # modules only: where each role came from
            with np.load(cache, allow_pickle=False) as data:
                for name, mel in zip(data["names"], data["mel"]):
                    role = meta.get("roles", {}).get(str(name), "other")
                    if role == "other" or (named is not None and named.get(str(name), "unknown") not in
                                           ("instrument name", "sample name")):
                        continue
                    xs.append(describe(mel))
                    roles.append(role)
                    sources.append("module" if entry.get("kind") == "module" else "midi")
    return Labelled(np.stack(xs) if xs else np.zeros((0, 2 * N_MELS + 3), np.float32), roles, sources)


@dataclass
class TaggerConfig(FromYaml):
    """The role tagger's training (model/conf/tagger.yaml holds the shipped values)."""

    FILE = "tagger.yaml"

    epochs: int = 400
    lr: float = 3e-3
    weight_decay: float = 1e-3
    module_weight: float = MODULE_WEIGHT
    valid_precision: float = VALID_PRECISION
    seed: int = 0


def train_tagger(train: Labelled, epochs: int = 400, seed: int = 0, module_weight: float = MODULE_WEIGHT,
                 lr: float = 3e-3, weight_decay: float = 1e-3) -> RoleTagger:
    """Full-batch AdamW on cross-entropy, classes weighted by 1/sqrt(count) (bass and hats are common), module
    stems by ``module_weight`` (fewer, and the ones it will tag)."""
    torch.manual_seed(seed)
    roles = sorted(set(train.roles))
    x = torch.from_numpy(train.x)
    y = torch.tensor([roles.index(r) for r in train.roles])
    counts = torch.bincount(y, minlength=len(roles)).float()
    tagger = RoleTagger(roles, x.mean(dim=0), x.std(dim=0).clamp(min=1e-3))
    optimiser = torch.optim.AdamW(tagger.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss(weight=counts.rsqrt() / counts.rsqrt().mean(), reduction="none")
    weights = torch.tensor([module_weight if s == "module" else 1.0 for s in train.source])
    tagger.train()
    for _ in range(epochs):
        optimiser.zero_grad()
        ((loss_fn(tagger(x), y) * weights).sum() / weights.sum()).backward()
        optimiser.step()
    return tagger.eval()


def choose_threshold(tagger: RoleTagger, valid: Labelled, precision: float = VALID_PRECISION) -> float:
    """The lowest confidence threshold (0.5 .. 0.95) at which the validation stems it tags are ``precision`` right
    (0.95 if none is)."""
    for threshold in np.arange(0.5, 0.951, 0.05):
        tagged = tagger_accuracy(tagger, valid, float(threshold))["all"]["tagged_accuracy"]
        if tagged is not None and tagged >= precision:
            return round(float(threshold), 2)
    return 0.95


def tag_unnamed(root: Path, tagger: RoleTagger, threshold: float) -> dict[str, int]:
    """Tag the module stems of the corpus at ``root`` whose role nobody named (the manifest's role source
    "unknown"), in their session.json and the manifest; a song whose anchor was the lowest sustained stem
    takes a tagged bass instead ("bass by tag"), its reference re-referenced. Returns counts of what changed."""
    manifest = load_manifest(root)
    counts = {"stems tagged": 0, "stems left other": 0, "anchors now a tagged bass": 0}
    for entry in manifest["sessions"].values():
        unknown = [n for n, source in entry.get("role_sources", {}).items() if source == "unknown"]
        cache = Path(root) / "features" / f"{entry['id']}.npz"
        if not unknown or not cache.exists():
            continue
        with np.load(cache, allow_pickle=False) as data:
            mel = dict(zip([str(n) for n in data["names"]], data["mel"].astype(np.float32)))
        meta_path = Path(root) / entry["id"] / SESSION_FILE
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        for name, (role, confidence) in zip(unknown, tagger.tag(np.stack([mel[n] for n in unknown]), threshold)):
            meta["roles"][name] = role
            entry["role_sources"][name] = f"tagged by ear (p={confidence:.2f})" if role != "other" else "unknown"
            counts["stems tagged" if role != "other" else "stems left other"] += 1
        basses = [n for n in unknown if meta["roles"][n] == "bass"]
        if entry.get("anchor_rule") == "lowest sustained stem" and basses:
            anchor = max(basses, key=lambda n: meta["reference_lu"][n])
            shift = meta["reference_lu"][anchor]
            meta["reference_lu"] = {n: round(v - shift, 2) for n, v in meta["reference_lu"].items()}
            meta["anchor"] = entry["anchor"] = anchor
            entry["anchor_rule"] = "bass by tag"
            counts["anchors now a tagged bass"] += 1
        write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
    write_manifest(root, manifest)
    return counts


def tagger_accuracy(tagger: RoleTagger, held_out: Labelled, threshold: float) -> dict[str, dict]:
    """Per source (and all): stems, top-1 accuracy, and at ``threshold`` the share tagged and their accuracy."""
    report = {}
    with torch.no_grad():
        probs = torch.softmax(tagger(torch.from_numpy(held_out.x)), dim=1).numpy() if len(held_out.roles) else None
    for source in ("midi", "module", "all"):
        rows = [i for i, s in enumerate(held_out.source) if source in ("all", s)]
        if not rows:
            continue
        best = probs[rows].argmax(axis=1)
        said = [tagger.roles[i] for i in best]
        right = np.array([s == held_out.roles[i] for s, i in zip(said, rows)])
        sure = probs[rows].max(axis=1) >= threshold
        report[source] = {"stems": len(rows), "accuracy": round(float(right.mean()), 3),
                          "tagged_share": round(float(sure.mean()), 3),
                          "tagged_accuracy": round(float(right[sure].mean()), 3) if sure.any() else None}
    return report
