"""The deployment model: one description of what is deployed, which the bill prices and the renderer writes.

    deployment = build_deployment(sized_tier, forecast, workload, book, DeployOptions(require_ha=True))
    bill = capplan.cost.bill.bill_deployment(deployment, book, llm_book)
    files = capplan.render.render_deployment(deployment)
"""

from capplan.deploy.build import DeployOptions, build_deployment
from capplan.deploy.model import MANAGED, Charge, Deployment, NodeGroup, Pod

__all__ = ["MANAGED", "Charge", "DeployOptions", "Deployment", "NodeGroup", "Pod", "build_deployment"]
