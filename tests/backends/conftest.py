"""The backend tests see the test plugin distribution (tests/plugins) in this process, so
its second llama.cpp adapter (`minillama`) reaches the registry through its entry point,
the door a third-party engine uses."""

from __future__ import annotations

import sys

from harness.registry import registry
from tests.conftest import PLUGIN_DIR

if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
    registry("backends").rescan()
