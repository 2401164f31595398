"""Service, think and inter-arrival time distributions given by mean and coefficient of variation."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from capplan.units import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]

DistKind = Literal["exponential", "deterministic", "erlang", "gamma", "lognormal"]


class Dist(BaseModel):
    """A non-negative random quantity by family, mean and coefficient of variation (sd / mean).

    exponential has cv 1 by definition; deterministic cv 0; erlang needs 1/cv^2 to be a whole
    number of phases; gamma and lognormal take any cv > 0.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are no one's numbers

    kind: DistKind = "exponential"
    mean: Seconds
    cv: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check_cv(self) -> "Dist":
        cv = self.effective_cv
        if self.kind == "exponential" and self.cv is not None and not math.isclose(self.cv, 1.0):
            raise ValueError("cv: an exponential distribution has cv 1; use gamma or lognormal")
        if self.kind == "deterministic" and self.cv not in (None, 0, 0.0):
            raise ValueError("cv: a deterministic value has cv 0")
        if self.kind in ("gamma", "lognormal") and self.cv is None:
            raise ValueError(f"cv: required for {self.kind}")
        if self.kind == "erlang":
            if not cv:
                raise ValueError("cv: erlang needs cv > 0 (1/cv^2 phases)")
            phases = 1.0 / cv**2
            if abs(phases - round(phases)) > 1e-6:
                raise ValueError(f"cv: erlang needs 1/cv^2 to be a whole number of phases, got {phases:.4g}")
        return self

    @property
    def effective_cv(self) -> float:
        if self.cv is not None:
            return float(self.cv)
        return {"exponential": 1.0, "deterministic": 0.0}.get(self.kind, 0.0)

    @property
    def second_moment(self) -> float:
        return self.mean**2 * (1.0 + self.effective_cv**2)

    def scaled(self, factor: float) -> "Dist":
        """The same family and cv with the mean multiplied by ``factor``."""
        return self.model_copy(update={"mean": self.mean * factor})


def exponential(mean: float) -> Dist:
    return Dist(kind="exponential", mean=mean)


def deterministic(value: float) -> Dist:
    return Dist(kind="deterministic", mean=value)
