"""capplan: capacity planner and cost estimator for self-hosted LibreChat."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("capplan")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+checkout"
