"""The installed package carries its data; in CI the tests must run against the installed wheel."""

import os
from pathlib import Path

import capplan
from capplan.data import data_dir


def test_bundled_data_folders_are_found():
    for name in ("scenarios", "pricing", "templates"):
        folder = data_dir(name)
        assert folder.is_dir() and any(folder.iterdir()), name
    assert (data_dir("scenarios") / "workloads" / "librechat.yaml").is_file()
    assert (data_dir("scenarios") / "textbook" / "mm1.yaml").is_file()


def test_ci_imports_the_installed_wheel_not_the_checkout():
    if not os.environ.get("CI"):
        return  # a developer may test an editable install or a checkout
    checkout = Path(__file__).resolve().parents[1]
    assert checkout not in Path(capplan.__file__).resolve().parents
    assert "_data" in data_dir("scenarios").parts
