"""Human units ("500ms", "15min", "2Gi", "70%") parsed in one place.

Inside capplan time is seconds, memory MiB, rates per second, shares fractions.
"""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(us|ms|s|sec|m|min|h|hr|d)?\s*$")
_DURATION_FACTORS = {None: 1.0, "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0,
                     "h": 3600.0, "hr": 3600.0, "d": 86400.0}
_MEMORY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(Ki|Mi|Gi|Ti|K|M|G|T|KB|MB|GB|TB)?\s*$")
_MEMORY_FACTORS = {None: 1.0, "Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1024.0**2,
                   "K": 1e3 / 2**20, "KB": 1e3 / 2**20, "M": 1e6 / 2**20, "MB": 1e6 / 2**20,
                   "G": 1e9 / 2**20, "GB": 1e9 / 2**20, "T": 1e12 / 2**20, "TB": 1e12 / 2**20}


def _finite(value: float, what: str, raw: object) -> float:
    # "1e400s" parses as infinity and "nan" as NaN: neither is a time, size or share anyone means
    if not math.isfinite(value):
        raise ValueError(f"not a finite {what}: {raw!r}")
    return value


def parse_duration(value: object) -> float:
    """Seconds from a number (already seconds) or a string such as "500ms", "2s", "15min", "1h"."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return _finite(float(value), "duration", value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return _finite(float(match.group(1)) * _DURATION_FACTORS[match.group(2)], "duration", value)
    raise ValueError(f"not a duration: {value!r} (use seconds or e.g. '500ms', '2s', '15min', '1h')")


def parse_memory_mib(value: object) -> float:
    """MiB from a number (already MiB) or a string such as "512Mi", "2Gi", "1G"."""
    if isinstance(value, bool):
        raise ValueError(f"not a memory size: {value!r}")
    if isinstance(value, (int, float)):
        return _finite(float(value), "memory size", value)
    if isinstance(value, str):
        match = _MEMORY.match(value)
        if match:
            return _finite(float(match.group(1)) * _MEMORY_FACTORS[match.group(2)], "memory size", value)
    raise ValueError(f"not a memory size: {value!r} (use MiB or e.g. '512Mi', '2Gi')")


def parse_fraction(value: object) -> float:
    """A share as a fraction from 0.7 or "70%"."""
    if isinstance(value, bool):
        raise ValueError(f"not a share: {value!r}")
    if isinstance(value, (int, float)):
        return _finite(float(value), "share", value)
    if isinstance(value, str):
        text = value.strip()
        try:
            share = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            pass
        else:
            return _finite(share, "share", value)
    raise ValueError(f"not a share: {value!r} (use 0.7 or '70%')")
