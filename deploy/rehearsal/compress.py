"""The alert rules with every duration divided by one factor, for the canary rehearsal.

    python deploy/rehearsal/compress.py --factor 10 > /tmp/rules.yml

make canary-rehearsal cannot spend 10 minutes per canary phase, so it runs the very rules of
deploy/monitoring/alerts.rules.yml on a clock FACTOR times faster: every `for:`, every range
and subquery window (`[1m]`, `[15m:1m]`), every group's evaluation `interval:` (60 s, the
policies' default, where a group names none) is divided by FACTOR, and so are the scrape
interval and the phases' analysis (rehearse.py). Thresholds are values, not durations, and stay
as they are: 5 s is still 5 s of response time. Nothing else in a rule changes.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml

RULES = Path(__file__).resolve().parent.parent / "monitoring" / "alerts.rules.yml"
DEFAULT_INTERVAL = "60s"  # deploy/monitoring/generate.py's evaluation interval
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_RANGE = re.compile(r"\[(\d+(?:ms|s|m|h|d))(?::(\d+(?:ms|s|m|h|d)))?\]")


def seconds(duration: str) -> float:
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"unsupported duration {duration!r} (one number and a unit)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def scaled(duration: str, factor: float) -> str:
    """'2m' / 10 -> '12s'; in milliseconds when it is not a whole number of seconds."""
    milliseconds = round(seconds(duration) * 1000 / factor)
    if milliseconds <= 0:
        raise ValueError(f"{duration} divided by {factor} is no time at all")
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def scale_expr(expr: str, factor: float) -> str:
    def window(match: re.Match[str]) -> str:
        step = match.group(2)
        inner = scaled(match.group(1), factor)
        return f"[{inner}:{scaled(step, factor)}]" if step else f"[{inner}]"

    return _RANGE.sub(window, expr)


def compress(document: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of the rule file with every duration divided by ``factor``."""
    if factor <= 0:
        raise ValueError("the factor must be positive")
    out = copy.deepcopy(document)
    for group in out["groups"]:
        group["interval"] = scaled(group.get("interval", DEFAULT_INTERVAL), factor)
        for rule in group["rules"]:
            rule["expr"] = scale_expr(rule["expr"], factor)
            if "for" in rule:
                rule["for"] = scaled(rule["for"], factor)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, required=True)
    parser.add_argument("--rules", type=Path, default=RULES)
    args = parser.parse_args()
    document = yaml.safe_load(args.rules.read_text())
    sys.stdout.write(yaml.safe_dump(compress(document, args.factor), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
