"""``python -m gankit`` (also what torchrun runs) is the CLI."""

from gankit.cli import main

raise SystemExit(main())
