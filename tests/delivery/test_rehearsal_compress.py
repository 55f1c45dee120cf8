"""The canary rehearsal's compressed rules (deploy/rehearsal/compress.py): the same rules, every
duration divided by the one factor, nothing else changed. Fast: no Prometheus needed."""

from __future__ import annotations

import re
import sys

import pytest
import yaml

from tests import ROOT

REHEARSAL = ROOT / "deploy" / "rehearsal"
sys.path.insert(0, str(REHEARSAL))
import compress  # noqa: E402

DURATION = r"\d+(?:ms|s|m|h|d)"


def windows(expr: str) -> list[str]:
    return [
        d for pair in re.findall(rf"\[({DURATION})(?::({DURATION}))?\]", expr) for d in pair if d
    ]


def without_windows(expr: str) -> str:
    return re.sub(rf"\[{DURATION}(?::{DURATION})?\]", "[]", expr)


def test_every_rule_is_kept_and_every_duration_divided_by_the_factor() -> None:
    original = yaml.safe_load(compress.RULES.read_text())
    fast = compress.compress(original, 10)
    assert [g["name"] for g in fast["groups"]] == [g["name"] for g in original["groups"]]
    seen = 0
    for before, after in zip(original["groups"], fast["groups"], strict=True):
        interval = compress.seconds(before.get("interval", compress.DEFAULT_INTERVAL))
        assert compress.seconds(after["interval"]) == pytest.approx(interval / 10)
        assert [r["alert"] for r in after["rules"]] == [r["alert"] for r in before["rules"]]
        for old, new in zip(before["rules"], after["rules"], strict=True):
            seen += 1
            # Labels, annotations and thresholds untouched; only the windows shrink.
            assert {k: v for k, v in new.items() if k not in ("expr", "for")} == {
                k: v for k, v in old.items() if k not in ("expr", "for")
            }
            assert without_windows(new["expr"]) == without_windows(old["expr"])
            old_windows, new_windows = windows(old["expr"]), windows(new["expr"])
            assert len(new_windows) == len(old_windows), old["alert"]
            assert [compress.seconds(w) for w in new_windows] == pytest.approx(
                [compress.seconds(w) / 10 for w in old_windows]
            )
            assert ("for" in new) == ("for" in old)
            if "for" in old:
                assert compress.seconds(new["for"]) == pytest.approx(
                    compress.seconds(old["for"]) / 10
                )
    assert seen == sum(len(g["rules"]) for g in original["groups"])
    assert original == yaml.safe_load(compress.RULES.read_text())  # the input is left alone


def test_durations_that_are_not_whole_seconds_are_written_in_milliseconds() -> None:
    assert compress.scaled("2m", 10) == "12s"
    assert compress.scaled("30s", 20) == "1500ms"
    assert compress.scale_expr("deriv(x[15m:1m])", 10) == "deriv(x[90s:6s])"


def test_a_duration_it_cannot_read_or_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported duration"):
        compress.seconds("1h30m")
    with pytest.raises(ValueError, match="no time at all"):
        compress.scaled("1ms", 10)
