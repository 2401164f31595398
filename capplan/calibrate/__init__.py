"""Calibration: fit capplan's inputs from what an operator already measures.

`capplan calibrate` fits the demand side from a LibreChat messages export and the nginx access log
(messages.py, accesslog.py, workload.py). The utilization-law fit of service demands (fit.py) and
Prometheus range responses (prometheus.py) are here but not yet wired into the command; that and
the loopback testbed are issue 12's next steps."""

from capplan.calibrate.fit import DemandFit, Fitted, fit_demands

__all__ = ["DemandFit", "Fitted", "fit_demands"]
