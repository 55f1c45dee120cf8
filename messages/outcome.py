"""What an operator action (a ``do_*`` function) hands back to whichever surface called it.

An action validates, changes state, writes its audit entry and counts its metric; the command,
the admin page or the API view that called it only shows the result. ``Outcome`` is that
result in words: the lines a command prints, the summary, and whether it failed in part.
``Refused`` (bad input: nothing changed) and ``Stopped`` (an outage part way: what was done
stays, running it again carries on) are the two ways an action ends early; their text is
written for the operator and names no secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    summary: str  # one line: "purge_messages: 3 messages (…) purged in 1 chat"
    notes: list[str] = field(default_factory=list)  # lines before the summary (stdout)
    warnings: list[str] = field(default_factory=list)  # lines for stderr (skips, failures)
    failure: str = ""  # not empty: it failed in part, and this says how (exit status 1)


class ActionError(Exception):
    """An action that ended early; ``str()`` is for the operator."""


class Refused(ActionError):
    """Bad input, or a change that would do harm: nothing was changed."""


class Stopped(ActionError):
    """An outage part way: what was done stays; run it again to carry on."""
