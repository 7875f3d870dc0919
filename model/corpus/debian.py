"""What Debian's package database says about a file: which package ships it, under what licence, and which of a
list of packages are installed. (Installing them is the command line's job: ``data midi|modules --install``.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

__all__ = ["licence_of", "package_files", "installed"]


def _dpkg(*args: str) -> str | None:
    try:
        done = subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def licence_of(path: Path) -> str:
    """Licence of a file from the Debian package that owns it, else 'unknown (user-supplied)'."""
    owner = _dpkg("-S", str(Path(path).resolve()))
    if owner is None:
        return "unknown (user-supplied)"
    package = owner.split(":")[0]
    copyright_file = Path(f"/usr/share/doc/{package}/copyright")
    text = copyright_file.read_text(errors="replace") if copyright_file.exists() else ""
    found = re.findall(r"^License:\s*(\S.*)$", text, re.M)
    return f"{found[0].strip() if found else 'see copyright'} (Debian package {package}, {copyright_file})"


def installed(package: str) -> bool:
    status = _dpkg("-s", package)
    return status is not None and "Status: install ok installed" in status


def package_files(package: str) -> list[Path]:
    """The files an installed package ships (``dpkg -L``); empty when it is not installed."""
    listing = _dpkg("-L", package) or ""
    return [Path(line) for line in listing.splitlines() if line.strip() and Path(line).is_file()]
