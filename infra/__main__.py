"""`python -m infra <command>`: see infra/cli/__init__.py for the list of commands."""

from infra.cli import main

raise SystemExit(main())
