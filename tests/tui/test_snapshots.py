"""Snapshots of the main screen (pytest-textual-snapshot): 80x24 and 120x40, after a balance.

Update them after a deliberate change of the screen with ``pytest tests/tui --snapshot-update``.
"""

import pytest

from anchormix.tui.app import ChatApp


async def balanced(pilot):
    app = pilot.app
    # A blinking cursor would be captured on or off depending on how busy the machine is: hold it still.
    app.query_one("#prompt").cursor_blink = False
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.query_one("#prompt").value = "balance"
    await pilot.press("enter")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_main_screen(snap_compare, demo_session_dir, tmp_path, size):
    app = ChatApp(demo_session_dir, tmp_path, intent_model=False)
    assert snap_compare(app, terminal_size=size, run_before=balanced)
