"""A load profile: how a day's (or a week's) messages spread over the hours.

A profile is the shape only; the volume is the workload's (messages per day from registered users,
the daily active share and messages per active user). Each day of the profile has 24 hourly weights
(local time) and a volume relative to a working day (a weekend day of a business tool: a fraction).
Within a day the rate moves linearly between the middles of the hours (a curve, not a staircase:
9:05 is not 8:55 plus a step), with the day's hourly shares kept exactly. Spikes multiply the rate
for a while on top (a launch, a retry storm after an incident).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from capplan.model.distributions import Seconds
from capplan.units import parse_duration

SECONDS_PER_DAY = 86400.0
SECONDS_PER_HOUR = 3600.0


def _clock(value: object) -> object:
    """'10:00' or '1d 10:00' (day index 1, the second day) as seconds from the profile's start."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    day = 0
    if "d " in text:
        head, text = text.split("d ", 1)
        day = int(head)
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return parse_duration(value)
    h, m = int(parts[0]), int(parts[1])
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"{value!r} is not a time of day (HH:MM)")
    return day * SECONDS_PER_DAY + h * SECONDS_PER_HOUR + m * 60.0


Clock = Annotated[float, BeforeValidator(_clock), Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Day(_Strict):
    name: str
    hours: list[Annotated[float, Field(ge=0)]] = Field(min_length=24, max_length=24)   # relative weights, local time
    volume: float = Field(default=1.0, ge=0)          # this day's messages relative to a working day

    @model_validator(mode="after")
    def _some_traffic(self) -> "Day":
        if self.volume > 0 and sum(self.hours) <= 0:
            raise ValueError(f"day {self.name!r}: every hour is 0 but its volume is not")
        return self


class Spike(_Strict):
    at: Clock                                          # start, from the profile's start ('10:00', '1d 09:30', 36000)
    duration: Seconds = Field(gt=0)
    factor: float = Field(gt=0, le=100)                # the rate is multiplied by this meanwhile


class Profile(_Strict):
    name: str
    description: str = ""
    days: list[Day] = Field(min_length=1)
    spikes: list[Spike] = Field(default_factory=list)

    @property
    def seconds(self) -> float:
        return SECONDS_PER_DAY * len(self.days)

    def hourly_shares(self, day: int) -> list[float]:
        """The day's hourly weights as shares of its messages (summing to 1)."""
        hours = self.days[day].hours
        total = sum(hours)
        return [h / total for h in hours] if total > 0 else [0.0] * 24

    def peak_hour_share(self) -> float:
        """The busiest hour's share of its day's messages (the workload's peak_hour_share, for this shape)."""
        return max(max(self.hourly_shares(d)) for d in range(len(self.days)) if self.days[d].volume > 0)

    def relative_rate(self, t: float) -> float:
        """The message rate at ``t`` seconds from the start, as a multiple of a working day's mean rate.

        Within each hour the rate ramps linearly towards the neighbouring hours' levels (halfway
        there at the hour's edges) and is shifted so that the hour's integral is its share exactly:
        a curve with small steps at the hours' edges, where a staircase would jump by whole hours'
        differences (an hour near 0 between busy ones is clipped at 0 and carries a little more)."""
        if not 0 <= t < self.seconds:
            t = min(max(t, 0.0), self.seconds - 1e-9)
        d = int(t // SECONDS_PER_DAY)
        day = self.days[d]
        shares = self.hourly_shares(d)
        x = (t - d * SECONDS_PER_DAY) / SECONDS_PER_HOUR     # hours into the day
        k = min(int(x), 23)
        frac = x - k
        # the hour's level is 24 x share (a day at the mean rate is 1 everywhere); a linear ramp to
        # the next or previous hour's level over the half hour next to it
        level = [24.0 * s for s in shares]
        here = level[k]
        if frac < 0.5:
            other = level[k - 1] if k > 0 else here
            w = 0.5 - frac
        else:
            other = level[k + 1] if k < 23 else here
            w = frac - 0.5
        # the ramps add (prev + next - 2 here) / 8 to the hour's mean: take it off
        prev = level[k - 1] if k > 0 else here
        nxt = level[k + 1] if k < 23 else here
        correction = -(prev + nxt - 2.0 * here) / 8.0
        value = here + correction + w * (other - here)
        rate = max(value, 0.0) * day.volume
        for s in self.spikes:
            if s.at <= t < s.at + s.duration:
                rate *= s.factor
        return rate


def profile_from_csv(text: str, name: str, source: str) -> Profile:
    """An hourly CSV of the operator's own counts: ``hour,count`` rows (hour 0..23, or 0..167 for
    a week from Monday 0:00), any count unit (messages, requests, users): only the shape is used."""
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0] and not _number(rows[0][0]):
        rows = rows[1:]                                   # a header line
    counts: dict[int, float] = {}
    for n, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2 or not _number(row[0]) or not _number(row[1]):
            raise ValueError(f"{source}: line {n}: expected 'hour,count', got {','.join(row)!r}")
        hour, count = int(float(row[0])), float(row[1])
        if hour < 0 or count < 0 or hour != float(row[0]):
            raise ValueError(f"{source}: line {n}: the hour must be a whole number >= 0 and the count >= 0")
        if hour in counts:
            raise ValueError(f"{source}: line {n}: hour {hour} appears twice")
        counts[hour] = count
    if not counts:
        raise ValueError(f"{source}: no rows")
    hours = max(counts) + 1
    days = (hours + 23) // 24
    if hours not in (24, 168) or len(counts) != hours:
        raise ValueError(f"{source}: need every hour 0-23 (a day) or 0-167 (a week), got {len(counts)} rows "
                         f"up to hour {max(counts)}")
    day_totals = [sum(counts[24 * d + h] for h in range(24)) for d in range(days)]
    busiest = max(day_totals)
    if busiest <= 0:
        raise ValueError(f"{source}: every count is 0")
    return Profile(name=name, description=f"hourly counts from {Path(source).name}", days=[
        Day(name=f"day {d + 1}", hours=[counts[24 * d + h] for h in range(24)], volume=day_totals[d] / busiest)
        for d in range(days)])


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
