"""The listening-test kit: stimuli loudness-matched, the page driven in headless Chromium by two simulated
listeners (one careless, screened out), and the analysis equal to statistics computed here from the same numbers."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
from scipy import stats

from anchormix.cli import main
from anchormix.listen.answers import AnswerStore, order
from anchormix.tools import ToolContext, load_session
from anchormix.tools.audio import read_audio
from anchormix.tools.demo import write_demo_session
from anchormix.tools.loudness import integrated_loudness

CONDITIONS = ["reference", "anchor", "rules", "loudness", "none"]
# The careful listener's ratings per condition and trial (the hidden reference always 100); the careless one
# rates everything 40, so it fails the post-screening.
CAREFUL = {"reference": [100, 100, 100], "anchor": [20, 35, 15], "rules": [80, 72, 90], "loudness": [25, 30, 22],
           "none": [50, 41, 66]}


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("listen")
    sessions = [write_demo_session(root / f"song{i}", g, 6.0, i, 22050, {"vocals": -6.0, "hats": 5.0, "keys": -4.0})
                for i, g in enumerate(["pop", "edm", "ballad"])]
    assert main(["listen", "build", *map(str, sessions), "--conditions", "reference,rules,loudness,none",
                 "--out", str(root / "test"), "--excerpt", "5"]) == 0
    return root / "test"


def test_every_stimulus_is_loudness_matched_and_the_hidden_reference_is_the_reference_balance(test_dir):
    test = json.loads((test_dir / "test.json").read_text())
    assert test["conditions"] == CONDITIONS and len(test["trials"]) == 3
    for trial in test["trials"]:
        levels = [integrated_loudness(*read_audio(test_dir / f)) for f in trial["files"].values()]
        assert max(levels) - min(levels) <= 0.2, trial["id"]
        session = load_session(trial["path"])
        ctx = ToolContext.of(session).at(trial["gains_db"]["reference"])
        for name, target in session.reference_lu.items():
            assert ctx.lufs(name) - ctx.lufs(session.anchor) == pytest.approx(target, abs=0.05), name
        assert list(trial["advice"]) == ["rules"]


def _rate(driver, secret, listener, trial, ratings):
    from selenium.webdriver.common.by import By

    for letter, name in zip("ABCDE", order(secret, listener, trial, CONDITIONS)):
        driver.execute_script("const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                              "e.dispatchEvent(new Event('input'));", f"rate-{letter}", ratings[name])
    driver.find_element(By.ID, "to-advice").click()
    for scale in ("clear", "actionable", "musically_right"):
        driver.find_element(By.CSS_SELECTOR, f"input[name='a0-{scale}'][value='4']").click()
    driver.find_element(By.ID, "submit").click()


def _begin(driver, base, listener):
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    driver.find_element(By.ID, "listener").send_keys(listener)
    driver.find_element(By.ID, "begin").click()


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="no chromium + chromium-driver (Debian packages; .ci/run installs them)")
def test_two_listeners_in_chromium_and_the_analysis_reproduces_the_statistics(test_dir, tmp_path):
    pytest.importorskip("selenium")
    from selenium.webdriver.support.ui import WebDriverWait

    from anchormix.listen.server import serve_in_thread
    from tests.browser import chromium

    server, base = serve_in_thread(test_dir)
    driver = chromium(1000, 1400)
    trials = [t["id"] for t in json.loads((test_dir / "test.json").read_text())["trials"]]
    try:
        for listener in ("careful", "careless"):
            _begin(driver, base, listener)
            for k, trial in enumerate(trials):
                WebDriverWait(driver, 10).until(lambda d: d.find_element("id", "progress").text == f"Trial {k + 1} of 3")
                if listener == "careful" and k == 1:
                    driver.save_screenshot(str(tmp_path / "listening.png"))
                    _begin(driver, base, listener)  # stopped and back: it resumes at the trial not yet answered
                    WebDriverWait(driver, 10).until(lambda d: d.find_element("id", "progress").text == "Trial 2 of 3")
                ratings = {c: (CAREFUL[c][k] if listener == "careful" else 40) for c in CONDITIONS}
                _rate(driver, AnswerStore(test_dir).secret, listener, trial, ratings)
            WebDriverWait(driver, 10).until(lambda d: d.find_element("id", "done").is_displayed())
    finally:
        driver.quit()
    again = urllib.request.Request(base + "/api/answer", method="POST", headers={"Content-Type": "application/json"},
                                   data=json.dumps({"listener": "careful", "trial": trials[0], "ratings": dict.fromkeys(
                                       "ABCDE", 0), "advice": {"0": dict.fromkeys(
                                           ("clear", "actionable", "musically_right"), 1)}}).encode())
    with pytest.raises(urllib.error.HTTPError, match="409"):  # an answer is never overwritten
        urllib.request.urlopen(again)
    server.shutdown()
    assert (tmp_path / "listening.png").stat().st_size > 10_000

    assert main(["listen", "analyse", str(test_dir)]) == 0
    result = json.loads((test_dir / "analysis.json").read_text())
    assert result["listeners"] == 2 and result["excluded"] == ["careless"]
    for condition, values in CAREFUL.items():  # the statistics, computed here from the submitted numbers
        mean, sd = np.mean(values), np.std(values, ddof=1)
        assert result["conditions"][condition]["mean"] == pytest.approx(mean)
        if sd > 0:
            assert result["conditions"][condition]["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * sd / np.sqrt(3))
    pairs = [(t["a"], t["b"]) for t in result["wilcoxon"]]
    raw = [1.0 if np.allclose(np.subtract(CAREFUL[a], CAREFUL[b]), 0) else stats.wilcoxon(CAREFUL[a], CAREFUL[b]).pvalue
           for a, b in pairs]
    ranked = np.argsort(raw)
    holm, running = np.zeros(len(raw)), 0.0
    for rank, i in enumerate(ranked):
        running = max(running, min(1.0, (len(raw) - rank) * raw[i]))
        holm[i] = running
    assert [t["p"] for t in result["wilcoxon"]] == pytest.approx(raw)
    assert [t["p_holm"] for t in result["wilcoxon"]] == pytest.approx(list(holm))
    assert ("rules", "reference") in pairs and ("rules", "loudness") in pairs
    assert result["advice"]["rules"] == {"n": 3, "clear": 4.0, "actionable": 4.0, "musically_right": 4.0}
    assert (test_dir / "analysis.svg").exists() and "| rules |" in (test_dir / "analysis.md").read_text()
