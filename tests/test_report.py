"""The report: one offline HTML page, drawn in headless Chromium, its two players loudness-matched."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from anchormix.cli import main
from anchormix.report import REPORT_LUFS, write_report
from anchormix.tools.loudness import integrated_loudness, loudness_matched
from tests.conftest import sine, tree_hash


def test_both_mixes_are_matched_in_loudness_under_the_ceiling():
    quiet, loud = sine(220, 3.0, 44100, 0.05), sine(440, 3.0, 44100, 0.9)
    (a, b), target = loudness_matched([quiet, loud], 44100, REPORT_LUFS)
    assert integrated_loudness(a, 44100) == pytest.approx(target, abs=0.05)
    assert integrated_loudness(b, 44100) == pytest.approx(target, abs=0.05)
    assert max(np.abs(a).max(), np.abs(b).max()) <= 10 ** (-1 / 20) + 1e-6


def test_report_of_a_folder_that_is_not_a_balance_is_named(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


@pytest.fixture(scope="module")
def balanced(demo_session_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "mixes"
    before = tree_hash(demo_session_dir)
    assert main(["balance", str(demo_session_dir), "--out", str(out), "--planner", "rules", "--report"]) == 0
    assert tree_hash(demo_session_dir) == before
    return out / demo_session_dir.name


def test_the_page_is_self_contained(balanced):
    page = (balanced / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched: no CDN, no remote audio
    assert page.count("data:audio/ogg;base64,") == 2 and page.count("<svg") == 2
    assert write_report(balanced).read_text().count("<audio") == 2  # written again: the same page


def test_a_balance_hands_its_band_levels_to_the_report_which_draws_the_same_page(balanced, tmp_path, monkeypatch):
    """The report written by `balance --report` reuses the balance's band levels (nothing measured twice) and is the
    page a report measured afresh from the folder draws."""
    from anchormix import report
    from anchormix.agent import RulePlanner, balance_session
    from anchormix.tools import measurements

    def drawn(page: Path) -> str:  # the page less its audio (an Ogg stream's serial number is random)
        return re.sub(r"data:audio/ogg;base64,[^']*", "", page.read_text())

    written = drawn(balanced / "report.html")
    assert drawn(report.write_report(balanced)) == written  # measured afresh: the same charts, numbers and words
    source = json.loads((balanced / "gains.json").read_text())["session_path"]
    pages = []

    def on_done(done, session, measured):  # the balance has measured; the report may not measure again
        measured.measure_all()  # (the rules check no masking on every session: the balance's levels, taken here)
        monkeypatch.setattr(measurements, "band_levels", lambda *a: pytest.fail("the report measured them again"))
        pages.append(report.write_report(done.out_dir, done.outcome, session, done.advice, measured))

    result = balance_session(source, tmp_path, RulePlanner(), fresh=True, on_done=on_done)
    assert pages == [result.out_dir / "report.html"] and pages[0].read_text().count("<audio") == 2


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="no chromium + chromium-driver (Debian packages; .ci/run installs them)")
def test_chromium_draws_both_charts_and_both_players(balanced, tmp_path):
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser import chromium

    driver = chromium()
    try:
        driver.get((balanced / "report.html").resolve().as_uri())
        for chart in ("levels-chart", "masking-chart"):
            svg = driver.find_element(By.CSS_SELECTOR, f"#{chart} svg")
            assert svg.size["width"] > 300 and svg.size["height"] > 150, chart
            assert len(svg.find_elements(By.CSS_SELECTOR, "path, image, rect")) > 5, chart
        players = driver.find_elements(By.TAG_NAME, "audio")
        assert [p.get_attribute("id") for p in players] == ["before", "after"]
        durations = WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "const a = [...document.querySelectorAll('audio')];"
            "return a.every(x => x.readyState >= 1 && isFinite(x.duration)) ? a.map(x => x.duration) : null"))
        assert all(d == pytest.approx(4.0, abs=0.1) for d in durations)  # both decoded: the 4 s demo
        assert driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_chat_export_is_reported_like_a_balance(demo_session_dir, tmp_path):
    """Issue 27: the chat's export writes the same BalanceOutcome as the batch, so `anchormix report` renders it."""
    from anchormix.agent import BalanceOutcome
    from anchormix.agent.chat import Conversation

    chat = Conversation(demo_session_dir, tmp_path / "chat")
    chat.handle("vocals up 3 dB")
    chat.handle("export the mix")
    outcome = BalanceOutcome.read(chat.out_dir)
    assert outcome.planner == "chat" and outcome.gains_db == chat.state.gains
    assert outcome.gains_vs_anchor_db["vocals"] == pytest.approx(3.0)
    assert outcome.lu_vs_anchor_after["vocals"] - outcome.lu_vs_anchor_before["vocals"] == pytest.approx(3.0, abs=0.05)
    assert main(["report", str(chat.out_dir)]) == 0
    page = (chat.out_dir / "report.html").read_text()
    assert page.count("data:audio/ogg;base64,") == 2 and page.count("<svg") == 2 and "vocals +3.0 dB" in page


def outcome_anchor(out_dir) -> str:
    from anchormix.agent import BalanceOutcome

    return BalanceOutcome.read(out_dir).anchor


def test_the_page_shows_each_stems_role_and_where_it_came_from(balanced, audio_nn_session, tmp_path):
    """Issue 25: the report, like measure and the chat, says each stem's role and its source; for a session with no
    stem named bass, why the anchor is the anchor."""
    page = (balanced / "report.html").read_text()
    table = page[page.index("<table class=stems"):page.index("</table>")]
    assert "<td>vocals</td><td>vocals</td><td>session.json</td>" in table and "bass (anchor)" in table
    folder, basses = audio_nn_session
    assert main(["balance", str(folder), "--out", str(tmp_path), "--planner", "rules", "--report"]) == 0
    page = (tmp_path / folder.name / "report.html").read_text()
    assert "The anchor: anchor by ear: no stem is named bass" in page
    table = page[page.index("<table class=stems"):page.index("</table>")]
    assert table.count("<tr>") == 33 and f"<td>{outcome_anchor(tmp_path / folder.name)} (anchor)</td>" in table
    assert re.search(r"<td>(ear|name reader|name reader \+ ear) \(\d\.\d\d\)</td>", table)  # a role no pattern gave
