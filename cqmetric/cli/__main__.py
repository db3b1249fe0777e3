"""`python -m cqmetric.cli`: the command line."""

from cqmetric.cli import main

raise SystemExit(main())
