"""The .eml corpus under tests/fixtures/email, shared by the email unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import ROOT

CORPUS_DIR = ROOT / "tests" / "fixtures" / "email"
CORPUS = sorted(CORPUS_DIR.glob("*.eml"))


@pytest.fixture
def load_eml() -> Callable[[str], bytes]:
    def load(name: str) -> bytes:
        return (CORPUS_DIR / name).read_bytes()

    return load


@pytest.fixture(params=CORPUS, ids=lambda path: Path(path).stem)
def eml(request: pytest.FixtureRequest) -> tuple[str, bytes]:
    """Every corpus file: (file name, raw bytes)."""
    path: Path = request.param
    return path.name, path.read_bytes()
