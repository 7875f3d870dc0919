"""Headless runs of the chat app: say a few things, then save an SVG screenshot (README, docs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .app import ChatApp

__all__ = ["screenshot"]


async def _drive(app: ChatApp, messages: list[str], path: Path, size: tuple[int, int]) -> None:
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for text in messages:
            app.query_one("#prompt").value = text
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.save_screenshot(path.name, str(path.parent))


def screenshot(app: ChatApp, path: str | Path, messages: list[str], size: tuple[int, int] = (120, 40)) -> Path:
    """Run ``app`` headless at ``size``, send ``messages`` one by one, and write the screen to ``path`` (SVG)."""
    path = Path(path)
    if path.suffix != ".svg":
        raise ValueError(f"{path}: the screenshot is an SVG; name it *.svg")
    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_drive(app, messages, path, size))
    return path
