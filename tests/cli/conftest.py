from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scp_async.emulator import Emulator


@pytest.fixture(scope="module")
def served() -> Iterator[Emulator]:
    """One emulator on 127.0.0.1 for the module's --keys-dir tests."""
    with Emulator.serve(subaccounts=6, directories=2, transition_delay=0.0) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def keys_dir(served: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    served.write_service_keys(directory)
    return directory
