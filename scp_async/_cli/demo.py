"""``scp-async demo``: a tour of an emulated global account."""

from __future__ import annotations

import anyio
import click


@click.command(name="demo")
@click.option("--subaccounts", type=click.IntRange(0, 5000), default=50, show_default=True, help="Size of the account.")
@click.option("--limit", type=click.IntRange(1, 1000), default=16, show_default=True, help="Concurrent requests.")
def demo(subaccounts: int, limit: int) -> None:
    """Tour an emulated global account: every subaccount, concurrently."""
    from .._demo import run_demo

    def out(text: str) -> None:
        click.echo(text)

    anyio.run(run_demo, subaccounts, limit, out)
