#!/usr/bin/env python
"""manage.py of the corpus project: third-party apps from PyPI, migrated for real."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    # the corpus apps and, first, the guardedmigrate checkout under test
    sys.path[:0] = [str(HERE), str(HERE.parent.parent)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "corpusproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
