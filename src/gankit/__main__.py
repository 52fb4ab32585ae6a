"""``python -m gankit`` (also what torchrun runs) is the CLI."""

from .cli import main

raise SystemExit(main())
