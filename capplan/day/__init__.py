"""A day in production: load over time, Kubernetes autoscaling, failures."""
