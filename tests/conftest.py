from pathlib import Path

import pytest

from capplan.data import data_dir
from capplan.model.loader import load_scenario

TEXTBOOK = data_dir("scenarios") / "textbook"


@pytest.fixture
def textbook():
    """Load a textbook network from scenarios/textbook by name."""

    def load(name: str):
        return load_scenario(TEXTBOOK / f"{name}.yaml")

    return load


@pytest.fixture
def shared_dir() -> Path | None:
    for candidate in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        if candidate.is_dir():
            return candidate
    return None
