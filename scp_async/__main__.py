"""``python -m scp_async`` / the ``scp-async`` command; the commands live in :mod:`scp_async._cli`."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from ._cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
