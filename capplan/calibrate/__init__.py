"""Calibration: fit capplan's inputs from what an operator already measures.

`capplan calibrate` fits the demand side from a LibreChat messages export and the nginx access log
(messages.py, accesslog.py), CPU per request by the utilization law (fit.py) and the LLM's pace
from Prometheus (prometheus.py, metrics.py), and writes them over a base workload (workload.py)."""

from capplan.calibrate.fit import DemandFit, Fitted, fit_demands

__all__ = ["DemandFit", "Fitted", "fit_demands"]
