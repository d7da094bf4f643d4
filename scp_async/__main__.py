"""The ``scp-async`` command line.

Subcommands live in a registry: ``register_subcommand(name, help, configure, run)`` adds one
(``configure(parser)`` declares its arguments, ``run(args)`` returns an exit code); ``build_parser()`` builds
the argparse tree from the registry. Each subcommand imports what it needs only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}


def register_subcommand(
    name: str,
    help: str,
    configure: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    SUBCOMMANDS[name] = Subcommand(name, help, configure, run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scp-async", description="Typed async client for the SAP BTP APIs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in SUBCOMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return int(run(args))
    except KeyboardInterrupt:
        return 130


# -- scp-async emulator -------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _configure_emulator(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=_positive_int, default=8080, help="port (0 = any free port; default 8080)")
    p.add_argument("--subaccounts", type=_positive_int, default=50, help="number of seeded subaccounts")
    p.add_argument("--directories", type=_positive_int, default=5, help="number of seeded directories")
    p.add_argument("--seed", type=int, default=42, help="seed of the deterministic landscape")
    p.add_argument("--token-ttl", type=float, default=43_199.0, help="access token lifetime in seconds")
    p.add_argument("--transition-delay", type=float, default=2.0, help="seconds resources stay in transit")
    p.add_argument("--uaa-port", type=_positive_int, help="port of the UAA origin (default: --port + 1)")
    p.add_argument(
        "--write-keys",
        metavar="DIR",
        help="write service keys (cis.json, ...), VCAP_SERVICES.json, default-env.json and bindings/ into DIR",
    )
    p.add_argument("--tls", action="store_true", help="serve HTTPS; the CA certificate is written next to the keys")
    p.add_argument(
        "--rate-limits",
        type=float,
        nargs="?",
        const=1.0,
        metavar="FACTOR",
        help="enforce the rate limits SAP documents per API, each multiplied by FACTOR (default 1)",
    )
    p.add_argument("--specs-dir", metavar="DIR", help="directory of the OpenAPI documents (default: specs/)")
    faults = p.add_argument_group("fault injection (every route)")
    faults.add_argument("--latency", type=float, default=0.0, help="fixed latency in seconds")
    faults.add_argument("--jitter", type=float, default=0.0, help="extra random latency up to this many seconds")
    faults.add_argument("--rate-429", type=float, default=0.0, help="probability of a 429")
    faults.add_argument("--rate-5xx", type=float, default=0.0, help="probability of a 503")
    faults.add_argument("--drop-rate", type=float, default=0.0, help="probability of dropping the connection")
    faults.add_argument(
        "--audit-log-rate-limit", action="store_true", help="apply the audit log's 8 req/s, burst 40 token bucket"
    )


def _run_emulator(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scp_async.emulator import EmulatorConfig, FaultConfig, run_server

    config = EmulatorConfig(
        subaccounts=args.subaccounts,
        directories=args.directories,
        seed=args.seed,
        token_ttl=args.token_ttl,
        transition_delay=args.transition_delay,
        specs_dir=Path(args.specs_dir) if args.specs_dir else None,
        faults=FaultConfig(
            latency=args.latency,
            jitter=args.jitter,
            rate_429=args.rate_429,
            rate_5xx=args.rate_5xx,
            drop_rate=args.drop_rate,
        ),
        audit_log_rate_limit=args.audit_log_rate_limit,
        tls=args.tls,
        rate_limits=args.rate_limits is not None,
        rate_limit_factor=args.rate_limits or 1.0,
    )
    run_server(
        config, host=args.host, port=args.port, uaa_port=args.uaa_port, write_keys=args.write_keys, print_fn=_print
    )
    return 0


def _print(*parts: object) -> None:
    print(*parts, flush=True)


register_subcommand("emulator", "Run the embedded BTP emulator on loopback.", _configure_emulator, _run_emulator)


# -- scp-async demo -----------------------------------------------------------------------------------------
def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subaccounts", type=_positive_int, default=50, help="size of the emulated account")
    parser.add_argument("--limit", type=_positive_int, default=16, help="concurrent requests at most")


def _run_demo(args: argparse.Namespace) -> int:
    import anyio

    from ._demo import run_demo

    anyio.run(run_demo, args.subaccounts, args.limit, _print)
    return 0


register_subcommand(
    "demo", "Tour an emulated global account: every subaccount, concurrently.", _configure_demo, _run_demo
)


if __name__ == "__main__":
    sys.exit(main())
