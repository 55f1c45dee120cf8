#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groupie.settings")
    from django.core.management import execute_from_command_line

    from groupie.logging import quiet_one_off_commands

    quiet_one_off_commands(sys.argv, os.environ)

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
