"""Sweeps over users, tiers and inputs: capacities at the SLO, break-even points, uncertainty."""
