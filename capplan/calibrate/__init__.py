"""Calibration: fit capplan's inputs from what an operator already measures (work in progress,
issue 12: the utilization-law fit, Prometheus range responses, nginx access logs and LibreChat
message exports are here; the `capplan calibrate` command and the loopback testbed come next)."""

from capplan.calibrate.fit import DemandFit, Fitted, fit_demands

__all__ = ["DemandFit", "Fitted", "fit_demands"]
