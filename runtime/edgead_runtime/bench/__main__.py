"""``python -m edgead_runtime.bench --memory-probe SPEC_JSON``: the child side of the per-target memory probe."""

import json
import sys

from .memory import memory_probe

if sys.argv[1:2] == ["--memory-probe"]:
    print(json.dumps(memory_probe(sys.argv[2])))
else:
    sys.exit("usage: python -m edgead_runtime.bench --memory-probe SPEC_JSON (internal; see edgead-runtime bench)")
