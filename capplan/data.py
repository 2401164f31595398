"""Locate the bundled data folders (scenarios/, pricing/, templates/).

Installed from a wheel they live in ``capplan/_data/<name>`` (hatch force-include); run from a
checkout they are the top-level folders of the repository.
"""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder holding the bundled ``name`` data (scenarios, pricing or templates)."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"bundled data folder {name!r} not found (looked in {installed} and {checkout})")
