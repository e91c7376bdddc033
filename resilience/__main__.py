"""``python -m resilience``: the same as the ``resilience`` command."""

from resilience.cli import main

raise SystemExit(main())
