"""The README cannot drift from the code: every command block marked runnable runs as written.

A block whose info string is ``bash runnable`` is run with ``bash -e -o pipefail`` in one temporary
folder, in README order (later blocks may use files earlier ones wrote, as a reader following along
would), with the repository's ``scenarios/`` and ``examples/`` copied in so their relative paths
resolve. Each block must exit 0. Blocks that install (pip) or reach the network are not marked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```bash runnable\n(.*?)^```", re.S | re.M)


def runnable_blocks(text: str) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(text)]


def test_the_readme_marks_its_examples_runnable():
    blocks = runnable_blocks(README.read_text(encoding="utf-8"))
    commands = " ".join(blocks)
    # the sections a new user copies from: simulate, cost, recommend, render, check
    for needed in ("capplan simulate", "capplan cost", "capplan recommend", "capplan render", "capplan check",
                   "capplan workload show"):
        assert needed in commands, f"no runnable README block runs {needed!r}"
    # every example that uses a workload file of its own says where it comes from
    assert commands.index("capplan workload show > my-workload.yaml") < commands.index("--workload my-workload.yaml")


def _capplan_bin() -> str:
    found = shutil.which("capplan", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        pytest.skip("the capplan command is not installed")
    return str(Path(found).parent)


def test_every_runnable_readme_block_runs_as_written(tmp_path):
    bin_dir = _capplan_bin()
    for folder in ("scenarios", "examples"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, tmp_path / folder)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "CAPPLAN_CACHE_DIR": str(tmp_path / "cache")}
    blocks = runnable_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    for block in blocks:
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"README block failed (exit {proc.returncode}):\n{block}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, block
    # what the blocks promise to leave behind
    assert (tmp_path / "my-workload.yaml").read_text(encoding="utf-8").startswith("#")
    assert (tmp_path / "deploy" / "k8s").is_dir() and (tmp_path / "deploy" / "prometheus").is_dir()
    assert (tmp_path / "baseline.json").stat().st_size > 0
