"""Languages fixtures: the compiled catalogue, and the catalogue's messages."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogue() -> Path:
    """`make setup` compiles the catalogue; a bare pytest run does it here when it is stale."""
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "pybabel"), "compile", "-d", str(ROOT / "translations")], check=True
        )
    return MO


@pytest.fixture(scope="session")
def zh_catalogue():
    with PO.open("rb") as handle:
        return read_po(handle, locale="zh_CN")
