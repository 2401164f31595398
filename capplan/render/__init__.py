"""Manifest renderer: a sizing (:class:`RenderContext`) in, validated deployable files out.

    ctx = example_context("tier2", "aws")          # or context_from_deploy(load_deploy(saved_plan))
    files = render(ctx, ["compose", "k8s"])        # {relative path: text}, sorted, deterministic
    issues = lint(files, ctx)                      # capplan's own rules where schemas are silent
    write_files(files, out_dir, force=False)       # atomic; never clobbers files it did not write
    files = render_plan(deploy)                    # the planner's deploy block -> linted files
"""

from capplan.render.context import (
    RenderContext,
    example_context,
    node_old_space_mib,
    template_vars,
)
from capplan.render.engine import HEADER_MARK, TARGETS, outputs, render
from capplan.render.lint import LintIssue, lint
from capplan.render.plan import context_from_deploy, load_deploy, render_plan
from capplan.render.writer import is_generated, write_files

__all__ = [
    "HEADER_MARK",
    "TARGETS",
    "LintIssue",
    "RenderContext",
    "context_from_deploy",
    "example_context",
    "is_generated",
    "lint",
    "load_deploy",
    "node_old_space_mib",
    "outputs",
    "render",
    "render_plan",
    "template_vars",
    "write_files",
]
