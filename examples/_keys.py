"""Where the examples find their service keys.

With ``SCP_ASYNC_KEYS_DIR`` set, from that directory (your own keys: cis.json, audit_log.json, ...);
otherwise from the embedded emulator, started on 127.0.0.1 for the duration of the example (with
``emulator_options``, e.g. ``rate_limits=True``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def service_keys(**emulator_options: Any) -> Generator[Path]:
    own = os.environ.get("SCP_ASYNC_KEYS_DIR")
    if own:
        yield Path(own)
        return
    from scp_async.emulator import Emulator

    options: dict[str, Any] = {"transition_delay": 0.3, **emulator_options}
    with Emulator.serve(**options) as emulator, tempfile.TemporaryDirectory() as keys:
        emulator.write_service_keys(keys)
        yield Path(keys)
