"""Calibration: fit capplan's inputs from what an operator already measures (work in progress:
the utilization-law fit and Prometheus range responses; the CLI, access logs and message exports
come next)."""

from capplan.calibrate.fit import DemandFit, Fitted, fit_demands

__all__ = ["DemandFit", "Fitted", "fit_demands"]
