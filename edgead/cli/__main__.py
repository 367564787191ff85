"""``python -m edgead.cli``: the same as the ``edgead`` command."""

from . import main

raise SystemExit(main())
