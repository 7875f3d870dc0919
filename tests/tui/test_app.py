"""The chat app through Textual's Pilot: message -> advice, apply, undo, anchor picker, export, bad session."""

import asyncio
import functools
from pathlib import Path

import anchormix.tui.app as app_module
from anchormix.tui.app import ChatApp, level_bar
from anchormix.tui.screens import AnchorPicker, ErrorScreen, ExportPicker
from tests.conftest import tree_hash


def sync(test):
    """Run an async test body with asyncio.run (no pytest plugin needed)."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return wrapper


async def settle(app, pilot):
    await app.workers.wait_for_complete()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def say(app, pilot, text):
    app.query_one("#prompt").value = text
    await pilot.press("enter")
    await settle(app, pilot)


def messages(app):
    return [(tuple(w.classes), str(w.render())) for w in app.query(".message")]


def test_level_bar_spans_the_range():
    assert level_bar(None) == "·" * 10 and level_bar(-40) == "·" * 10 and level_bar(10) == "█" * 10
    assert level_bar(0.0).count("█") == 8  # 0 LU sits 24 of 30 LU up the meter


class _Titled(ChatApp):
    """The chat app, every sub-title it showed recorded."""

    CSS_PATH = Path(app_module.__file__).with_name("app.tcss")  # a subclass's relative path would be read from here

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.titles: list[str] = []

    def watch_sub_title(self, value: str) -> None:
        self.titles.append(value)


@sync
async def test_opening_shows_what_it_is_at_in_the_title_bar_then_the_session(demo_session_dir, tmp_path):
    app = _Titled(demo_session_dir, tmp_path, intent_model=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
    name = demo_session_dir.name
    assert app.titles[app.titles.index(f"{name}: decoding the stems…"):] == [
        f"{name}: decoding the stems…", f"{name}: 8 stems of 4 s: reading the roles no name gives…",
        f"{name}: measuring loudness, true peak and masking…", f"{name}: 8 stems, 4 s"], app.titles


@sync
async def test_advice_apply_undo_anchor_and_export(demo_session_dir, tmp_path):
    before = tree_hash(demo_session_dir)
    app = ChatApp(demo_session_dir, tmp_path, intent_model=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.chat is not None and not app.busy
        table = app.query_one("#stems")
        assert table.row_count == len(app.chat.session.names)

        await say(app, pilot, "balance everything against the bass")
        assert "Against the bass I would move" in messages(app)[-1][1]
        assert app.chat.state.proposal["vocals"] > 3
        assert str(table.get_cell("vocals", "proposed")).startswith("+")

        await pilot.press("f2")  # apply
        await settle(app, pilot)
        vocals = app.chat.state.gains["vocals"]
        assert vocals > 3 and str(table.get_cell("vocals", "proposed")) == ""
        assert str(table.get_cell("vocals", "gain")) == f"{vocals:+.1f}"

        await pilot.press("f3")  # undo
        await settle(app, pilot)
        assert app.chat.state.gains["vocals"] == 0.0

        await pilot.press("f5")  # anchor picker
        await pilot.pause()
        assert isinstance(app.screen, AnchorPicker)
        kick = app.chat.session.names.index("kick")
        options = app.screen.query_one("#anchor-options")
        options.highlighted = kick
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.chat.anchor == "kick" and str(table.get_cell("kick", "anchor")) == "⚓"

        await pilot.press("f7")  # the trace of the turn
        assert app.query_one("#trace").display and app.query_one("#trace").row_count == 0  # anchor: no tools
        await say(app, pilot, "what's masking the vocal?")
        assert app.query_one("#trace").row_count == len(app.chat.session.names)

        await pilot.press("f6")  # export: it asks which DAW session to write too
        await pilot.pause()
        assert isinstance(app.screen, ExportPicker)
        app.screen.query_one("#export-options").highlighted = 3  # + both
        await pilot.press("enter")
        await settle(app, pilot)
        out = tmp_path / app.chat.id
        assert (out / "mix.wav").exists() and "Wrote" in messages(app)[-1][1]
        assert (out / "ardour" / f"{app.chat.id}.ardour").exists() and (out / f"{app.chat.id}.RPP").exists()
    assert tree_hash(demo_session_dir) == before


@sync
async def test_the_conversation_resumes_when_the_app_reopens(demo_session_dir, tmp_path):
    app = ChatApp(demo_session_dir, tmp_path, intent_model=False)
    async with app.run_test() as pilot:
        await settle(app, pilot)
        await say(app, pilot, "bring the hats down 3 dB")
    again = ChatApp(demo_session_dir, tmp_path, intent_model=False)
    async with again.run_test() as pilot:
        await settle(again, pilot)
        assert again.chat.state.gains["hats"] == -3.0
        texts = [t for _, t in messages(again)]
        assert "bring the hats down 3 dB" in texts and any("resumed" in t for t in texts)


@sync
async def test_a_bad_session_shows_an_error_screen(tmp_path):
    bad = tmp_path / "song"
    bad.mkdir()
    (bad / "vocals.wav").write_text("not audio")
    app = ChatApp(bad, tmp_path / "out", intent_model=False)
    async with app.run_test() as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorScreen)
        text = str(app.screen.query_one("#error-message").render())
        assert "vocals.wav" in text
        await pilot.press("q")
    assert app.return_code == 2  # `anchormix chat` exits 2, as for any bad input
    assert not (tmp_path / "out").exists()  # nothing written for a session that did not open


@sync
async def test_a_session_with_no_stem_named_bass_opens_on_the_ears_anchor_and_f5_changes_it(audio_nn_session,
                                                                                             tmp_path):
    folder, basses = audio_nn_session
    app = ChatApp(folder, tmp_path, intent_model=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert not isinstance(app.screen, ErrorScreen) and app.chat.anchor in basses
        bass = app.chat.anchor
        assert any("anchor by ear" in t and f"'{bass}'" in t and "F5" in t for _, t in messages(app))
        await pilot.press("f5")
        await settle(app, pilot)
        assert isinstance(app.screen, AnchorPicker)
        app.screen.query_one("#anchor-options").highlighted = 0
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.chat.anchor == app.chat.session.names[0] != bass
