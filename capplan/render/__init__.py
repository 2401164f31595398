"""Manifest renderer: a sizing (:class:`RenderContext`) in, validated deployable files out.

    ctx = example_context("tier2", "aws")          # or built from the planner's recommendation
    files = render(ctx, ["compose", "k8s"])        # {relative path: text}, sorted, deterministic
    issues = lint(files, ctx)                      # capplan's own rules where schemas are silent
    write_files(files, out_dir, force=False)       # atomic; never clobbers files it did not write
"""

from capplan.render.context import (
    RenderContext,
    example_context,
    node_old_space_mib,
    template_vars,
)
from capplan.render.engine import HEADER_MARK, TARGETS, outputs, render
from capplan.render.lint import LintIssue, lint
from capplan.render.writer import is_generated, write_files

__all__ = [
    "HEADER_MARK",
    "TARGETS",
    "LintIssue",
    "RenderContext",
    "example_context",
    "is_generated",
    "lint",
    "node_old_space_mib",
    "outputs",
    "render",
    "template_vars",
    "write_files",
]
