"""``anchormix listen build``: the stimuli of a MUSHRA-style test (ITU-R BS.1534), one trial per session.

Per session: the excerpt where most stems play (``excerpt_s`` long), mixed once
per condition, every mix **loudness-matched** (one integrated loudness for the
whole test: -23 LUFS, lower if a mix would peak above -1 dBFS), with 20 ms
fades. Conditions: ``reference`` (the hidden reference: the session's own
reference balance, from its ``reference_lu``; a session without one is heard at
the levels as delivered, the producer's own balance: ``reference_from`` says which), ``anchor`` (the low anchor: the
flat start, every stem at the anchor's loudness), and the ones asked for:
``none`` (the session as given), ``loudness`` (the loudness rule: the same gains
as the low anchor), ``rules``, ``peaks`` and ``alm`` (a balance by that planner,
whose advice the second page of the trial asks about). ``test.json`` lists it all.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from anchormix.agent.balance import balance_session, session_id
from anchormix.tools import ToolContext, load_session
from anchormix.tools.audio import write_audio_atomic, write_text_atomic
from anchormix.tools.loudness import integrated_loudness, loudness_matched
from anchormix.tools.outputs import claim_folder
from anchormix.tools.render import mix_down

from ..planners import make_planner

__all__ = ["CONDITIONS", "PLANNERS", "build_test", "excerpt_start", "blind", "TEST_FILE"]

CONDITIONS = ("reference", "anchor", "none", "loudness", "rules", "peaks", "alm")
PLANNERS = ("rules", "peaks", "alm")  # the conditions that write advice
TEST_FILE = "test.json"
TARGET_LUFS, CEILING_DBFS, FADE_S = -23.0, -1.0, 0.02


def excerpt_start(session, seconds: float) -> int:
    """The first sample of the ``seconds``-long window where most stems play (a stem plays in a second whose RMS
    is within 40 dB of its loudest second)."""
    rate, window = session.sample_rate, int(seconds * session.sample_rate)
    if session.num_samples <= window:
        return 0
    count = session.num_samples // rate
    rms = np.array([[np.sqrt(np.mean(a[:, k * rate:(k + 1) * rate] ** 2)) + 1e-12 for k in range(count)]
                    for a in session.stems.values()])
    playing = (20 * np.log10(rms) > 20 * np.log10(rms.max(axis=1, keepdims=True)) - 40).sum(axis=0)
    span = int(seconds)
    best = max(range(count - span + 1), key=lambda k: (playing[k:k + span].sum(), -k))
    return best * rate


def _gains(name: str, ctx: ToolContext, work: Path) -> tuple[dict[str, float], str | None]:
    """A condition's gains (dB per stem) and, for a planner, its advice; ``ctx`` the session measured once."""
    session = ctx.session
    anchor = ctx.lufs(session.anchor)
    if name == "reference":  # the session's reference balance; without one, the levels as the producer delivered them
        reference = session.reference_lu or {}
        return {n: (reference.get(n, ctx.lufs(n) - anchor) + anchor - ctx.lufs(n)) if n != session.anchor
                else 0.0 for n in session.names}, None
    if name in ("anchor", "loudness"):
        return {n: (anchor - ctx.lufs(n)) if np.isfinite(ctx.lufs(n)) else 0.0 for n in session.names}, None
    if name == "none":
        return {n: 0.0 for n in session.names}, None
    result = balance_session(session.path, work / name, make_planner(name), fresh=True)
    return dict(result.outcome.gains_db), blind(result.advice)


def blind(advice: str) -> str:
    """The advice as a listener reads it: without the line that names the planner (the test is blind)."""
    return "".join(line for line in advice.splitlines(keepends=True) if not line.startswith("Planner:")).rstrip() + "\n"


def _fade(audio: np.ndarray, rate: int) -> np.ndarray:
    n = min(int(FADE_S * rate), audio.shape[1] // 2)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    audio = audio.copy()
    audio[:, :n] *= ramp
    audio[:, audio.shape[1] - n:] *= ramp[::-1]
    return audio


def build_test(sessions: list[Path], conditions: list[str], out: Path, excerpt_s: float = 12.0) -> Path:
    """Render the test into ``out`` (stimuli/<trial>/<condition>.wav and test.json); the path of test.json."""
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"--conditions: unknown {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    wanted = ["reference", "anchor"] + [c for c in conditions if c not in ("reference", "anchor")]
    sources = [Path(p) if Path(p).is_dir() else Path(p).parent for p in sessions]
    out = claim_folder(out, sources)  # before decoding: never into a session's folder, never over others' files
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=out))  # the planners' balances: ours alone, removed after
    try:
        return _build(sessions, wanted, out, work, excerpt_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(sessions: list[Path], wanted: list[str], out: Path, work: Path, excerpt_s: float) -> Path:
    trials, excerpts = [], {}
    for k, path in enumerate(sessions, start=1):
        session = load_session(path)
        claim_folder(out, session.read_only())
        start = excerpt_start(session, excerpt_s)
        stop = min(session.num_samples, start + int(excerpt_s * session.sample_rate))
        gains, advice, ctx = {}, {}, ToolContext.of(session)
        for name in wanted:
            gains[name], said = _gains(name, ctx, work / session_id(path))
            if said is not None:
                advice[name] = said
        excerpts[f"t{k:02d}"] = (session, {n: _fade(mix_down(session, g).audio[:, start:stop], session.sample_rate)
                                           for n, g in gains.items()})
        trials.append({"id": f"t{k:02d}", "session": session_id(path), "path": str(Path(path).resolve()),
                       "reference_from": "reference_lu" if session.reference_lu else "as delivered",
                       "genre": session.genre, "start_s": round(start / session.sample_rate, 2),
                       "seconds": round((stop - start) / session.sample_rate, 2), "gains_db": gains, "advice": advice})
    matched, target = loudness_matched([m for _, mixes in excerpts.values() for m in mixes.values()],
                                       [s.sample_rate for s, mixes in excerpts.values() for _ in mixes],
                                       TARGET_LUFS, CEILING_DBFS)
    matched = iter(matched)
    for trial in trials:
        session, mixes = excerpts[trial["id"]]
        trial["files"], trial["lufs"] = {}, {}
        for name in mixes:
            audio = next(matched)
            file = Path("stimuli") / trial["id"] / f"{name}.wav"
            write_audio_atomic(out / file, audio, session.sample_rate)
            trial["files"][name] = str(file)
            trial["lufs"][name] = round(integrated_loudness(audio, session.sample_rate), 3)
    body = {"version": 1, "standard": "ITU-R BS.1534-3 (MUSHRA)", "conditions": wanted, "reference": "reference",
            "anchor": "anchor", "target_lufs": round(float(target), 2), "trials": trials}
    return write_text_atomic(out / TEST_FILE, json.dumps(body, indent=2) + "\n")
