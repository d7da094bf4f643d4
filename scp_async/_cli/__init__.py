"""The ``scp-async`` command line (click + rich): one module per subcommand.

Errors are one line on stderr (``scp-async: error: ...``) with a non-zero exit: 2 for a wrong command
line, 1 for everything else, 130 when interrupted. Messages come from the library's errors, which never
hold a secret.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from ._common import CliError

__all__ = ["cli", "main"]

_LAZY = {
    "call": ("call", "call", "Call any operation of any API (JSON on stdout)."),
    "curl": ("curl", "curl", "Send any path to an API with its auth (like `cf curl`)."),
    "fan-out": ("fan_out", "fan_out_command", "Run one operation for every subaccount, with progress."),
    "inventory": ("inventory", "inventory", "Snapshot a global account; `inventory diff OLD NEW`."),
    "emulator": ("emulator", "emulator", "Run the embedded BTP emulator on loopback."),
    "demo": ("demo", "demo", "Tour an emulated global account: every subaccount, concurrently."),
    "completion": ("__init__", "completion", "Print the shell completion script (bash, zsh, fish)."),
}


class _Root(click.Group):
    """Subcommands load their modules when run, so `scp-async --version` stays quick."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_LAZY)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _LAZY.get(cmd_name)
        if entry is None:
            return None
        import importlib

        module = importlib.import_module(f"{__name__}.{entry[0]}" if entry[0] != "__init__" else __name__)
        command: click.Command = getattr(module, entry[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry[2]) for name, entry in _LAZY.items()])


def _version() -> str:
    from .. import __version__

    return __version__


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=None, package_name="scp-async", prog_name="scp-async", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="Log requests to stderr (-vv: debug).")
def cli(verbose: int) -> None:
    """Typed async client for the SAP BTP management APIs: every operation from the shell."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    scp_logger = logging.getLogger("scp_async")
    saved = (scp_logger.handlers[:], scp_logger.level, scp_logger.propagate)
    scp_logger.handlers[:] = [handler]
    scp_logger.setLevel(level)
    scp_logger.propagate = False

    def restore() -> None:
        # main() may run inside a bigger program (or a test): its logging set-up is not ours to keep.
        handlers, level, propagate = saved
        scp_logger.handlers[:] = handlers
        scp_logger.setLevel(level)
        scp_logger.propagate = propagate

    click.get_current_context().call_on_close(restore)


@click.command(name="completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script: `eval "$(scp-async completion bash)"` (in ~/.bashrc)."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # the choices are click's own shells
    click.echo(completer(cli, {}, "scp-async", "_SCP_ASYNC_COMPLETE").source())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (errors as one line on stderr)."""
    from .._errors import ScpAsyncError

    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="scp-async", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        # A group without its command: the help is the answer, not an error to squeeze into one line.
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message(), err=True)
        return 2
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        _error(f"{exc.format_message()}{hint}")
        return 2
    except CliError as exc:
        _error(exc.format_message())
        return exc.code
    except click.ClickException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except click.Abort:
        _error("aborted")
        return 130
    except KeyboardInterrupt:
        return 130
    except ScpAsyncError as exc:
        _error(_one_line(f"{type(exc).__name__}: {exc}"))
        return 1
    except OSError as exc:
        _error(_one_line(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}"))
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error(message: str) -> None:
    click.echo(f"scp-async: error: {_one_line(message)}", err=True)
