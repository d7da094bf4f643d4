"""``scp-async emulator``: the embedded BTP emulator on loopback, until interrupted."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import click

from ._common import CliError

_FAULTS = "Fault injection (every route)"


@click.command(name="emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port (0: any free one).")
@click.option("--subaccounts", type=click.IntRange(min=0), default=50, show_default=True, help="Seeded subaccounts.")
@click.option("--directories", type=click.IntRange(min=0), default=5, show_default=True, help="Seeded directories.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the deterministic landscape.")
@click.option(
    "--token-ttl",
    type=click.FloatRange(min=0, min_open=True),
    default=43_199.0,
    show_default=True,
    help="Access token lifetime in seconds.",
)
@click.option(
    "--transition-delay",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds resources stay in transit.",
)
@click.option("--uaa-port", type=click.IntRange(0, 65535), help="Port of the UAA origin (default: --port + 1).")
@click.option(
    "--write-keys",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write service keys (cis.json, ...), VCAP_SERVICES.json, default-env.json, bindings/ to DIR.",
)
@click.option("--tls", is_flag=True, help="Serve HTTPS; the CA certificate is written next to the keys.")
@click.option(
    "--rate-limits",
    type=click.FloatRange(min=0, min_open=True),
    is_flag=False,
    flag_value=1.0,
    default=None,
    metavar="[FACTOR]",
    help="Enforce the rate limits SAP documents per API, each multiplied by FACTOR (default 1).",
)
@click.option(
    "--specs-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory of the OpenAPI documents (default: the packaged specs).",
)
@click.option("--latency", type=click.FloatRange(min=0), default=0.0, help=f"{_FAULTS}: fixed latency in seconds.")
@click.option("--jitter", type=click.FloatRange(min=0), default=0.0, help=f"{_FAULTS}: random extra latency.")
@click.option("--rate-429", type=click.FloatRange(0, 1), default=0.0, help=f"{_FAULTS}: probability of a 429.")
@click.option("--rate-5xx", type=click.FloatRange(0, 1), default=0.0, help=f"{_FAULTS}: probability of a 503.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0, help=f"{_FAULTS}: dropped connections.")
@click.option("--audit-log-rate-limit", is_flag=True, help="Apply the audit log's 8 req/s, burst 40 token bucket.")
def emulator(**options: Any) -> None:
    """Run the embedded BTP emulator on loopback (Ctrl-C stops it)."""
    run(**options)


def run(
    *,
    host: str,
    port: int,
    subaccounts: int,
    directories: int,
    seed: int,
    token_ttl: float,
    transition_delay: float,
    uaa_port: int | None,
    write_keys: Path | None,
    tls: bool,
    rate_limits: float | None,
    specs_dir: Path | None,
    latency: float,
    jitter: float,
    rate_429: float,
    rate_5xx: float,
    drop_rate: float,
    audit_log_rate_limit: bool,
) -> None:
    try:
        import uvicorn  # noqa: F401 - only to say early that the extra is missing
    except ImportError:
        raise CliError("the emulator needs its extra: pip install 'scp-async[emulator]'") from None
    from ..emulator import EmulatorConfig, FaultConfig, run_server

    if write_keys is not None:
        _check_writable(write_keys)
    try:
        config = EmulatorConfig(
            subaccounts=subaccounts,
            directories=directories,
            seed=seed,
            token_ttl=token_ttl,
            transition_delay=transition_delay,
            specs_dir=specs_dir,
            faults=FaultConfig(
                latency=latency, jitter=jitter, rate_429=rate_429, rate_5xx=rate_5xx, drop_rate=drop_rate
            ),
            audit_log_rate_limit=audit_log_rate_limit,
            tls=tls,
            rate_limits=rate_limits is not None,
            rate_limit_factor=rate_limits or 1.0,
        )
    except (TypeError, ValueError) as exc:
        raise CliError(f"emulator options: {exc}", 2) from None
    try:
        run_server(config, host=host, port=port, uaa_port=uaa_port, write_keys=write_keys, print_fn=_print)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CliError(_port_in_use(host, port, uaa_port)) from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES) or isinstance(exc, PermissionError):
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        raise CliError(f"emulator: {exc.strerror or exc}") from None


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--write-keys {directory}: {exc.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CliError(f"--write-keys {directory}: not writable")


def _print(*parts: object) -> None:
    click.echo(" ".join(str(p) for p in parts))


def parse(argv: list[str]) -> dict[str, Any]:
    """The options ``scp-async emulator ARGV`` would run with (for tests and tools)."""
    with emulator.make_context("emulator", list(argv)) as ctx:
        return dict(ctx.params)


def _port_in_use(host: str, port: int, uaa_port: int | None) -> str:
    """Name the ports that were asked for (a port 0 is the system's choice and cannot be in use)."""
    asked = {option: number for option, number in (("--port", port), ("--uaa-port", uaa_port)) if number}
    if not asked:
        return f"{host}: no free port (the system could not give one)"
    taken = " or ".join(f"{option} {number}" for option, number in asked.items())
    return f"{host}: {taken} is in use (try {' or '.join(f'{option} 0' for option in asked)})"
