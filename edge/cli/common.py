"""Plumbing shared by the `omo-edge` and `omo-ops` commands.

One wrapper runs a parsed command: an `EdgeError` becomes its message and exit 2
(never a traceback), Ctrl-C exit 130, and a closed standard output (`| head`)
exit 141 without a word, as a shell reports a command stopped by SIGPIPE. The
argument types refuse a bad number before anything starts: argparse then exits
2 with a message naming the flag.
"""

from __future__ import annotations

import _thread
import argparse
import logging
import math
import os
import select
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO, TypeAlias

from edge.errors import EdgeError

if TYPE_CHECKING:
    from edge.config import Config

Command: TypeAlias = Callable[[argparse.Namespace], int]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EXIT_PROBLEM = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what `cat | head -1` leaves in PIPESTATUS

_stdout_closed = False
_running = False


class Group(Protocol):
    """A module of commands: it adds its parsers to the command's subcommands."""

    def register(self, sub: Subcommands) -> None: ...


def command_parser(prog: str, doc: str, groups: Iterable[Group]) -> argparse.ArgumentParser:
    """`prog`'s parser: the first line of `doc` as description, --version, each group's
    subcommands (one of them required)."""
    from edge import __version__

    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n", maxsplit=1)[0])
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in groups:
        group.register(sub)
    return parser


# -- argument types: a bad value is refused by argparse, naming the flag ------------------
def positive_number(text: str) -> float:
    """A finite number above 0 (seconds, a speed)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"give a number above 0, not {text!r}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 1-65535."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"give a port number 1-65535, not {text!r}")
    return int(text)


def add_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML config (see config/edge.example.toml); default: built-in defaults",
    )
    return parser


def say_config(prog: str, cfg: Config) -> None:
    """Which config is in effect and where the state dir is (a defaults run is no surprise)."""
    print(f"{prog}: {cfg.describe()}", file=sys.stderr)


# -- logging ---------------------------------------------------------------------------
class _StdoutLogHandler(logging.StreamHandler[TextIO]):
    """A log line that cannot be written because stdout's reader left stops the command."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if isinstance(sys.exc_info()[1], BrokenPipeError) and _is_closed(self.stream):
            if _silence_stdout() and _running:
                _thread.interrupt_main()  # the command's SIGINT handler, or KeyboardInterrupt
            return
        super().handleError(record)


def trace_file(path: Path) -> Path:
    """`path` if it is a trace file to replay; EdgeError in plain words if not."""
    if path.is_dir():
        raise EdgeError(f"trace file {path} is a folder: give the .jsonl file in it")
    if not path.is_file():
        raise EdgeError(f"trace file {path} does not exist")
    return path


def setup_logging(level: str) -> None:
    """edge.logs' handler (journald-aware, MAC-shaped strings redacted), quiet on `| head`."""
    from edge import logs

    logs.setup(level)
    root = logging.getLogger()
    [handler] = root.handlers
    if isinstance(handler, logging.StreamHandler):
        quiet = _StdoutLogHandler(handler.stream)
        quiet.setFormatter(handler.formatter)
        for log_filter in handler.filters:
            quiet.addFilter(log_filter)
        root.handlers[:] = [quiet]


# -- running a command -----------------------------------------------------------------
def run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse `argv` and run the command it names; returns the exit code."""
    global _running  # noqa: PLW0603 (one process, one command)
    code = EXIT_PIPE_CLOSED
    try:
        try:
            args = parser.parse_args(argv)
            command: Command = args.fn
            _running = True
            code = int(command(args))
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        except EdgeError as exc:
            print(f"{parser.prog}: {exc}", file=sys.stderr)
            code = EXIT_PROBLEM
        except BrokenPipeError:
            raise  # our reader left: handled below
        except OSError as exc:  # a file named on the command line that cannot be used
            print(f"{parser.prog}: {_plain(exc)}", file=sys.stderr)
            code = EXIT_PROBLEM
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
        finally:
            _running = False
    except BrokenPipeError:
        if not _is_closed(sys.stdout):
            raise  # a socket, not our output: a bug to see, not to hide
        _silence_stdout()
    return EXIT_PIPE_CLOSED if _stdout_closed else code


def os_reason(exc: OSError) -> str:
    """What an OSError says is wrong, in lower case words ("no such file or directory")."""
    return (exc.strerror or str(exc)).lower()


def _plain(exc: OSError) -> str:
    """An OSError as a line for people: the file, then what is wrong with it."""
    what = os_reason(exc)
    return f"{exc.filename}: {what}" if exc.filename else what


def _is_closed(stream: TextIO) -> bool:
    """Whether nobody reads `stream` any more (a pipe or socket whose reader left)."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def _silence_stdout() -> bool:
    """Point stdout at /dev/null (what is still buffered goes there); True the first time."""
    global _stdout_closed  # noqa: PLW0603 (one process, one stdout)
    if _stdout_closed:
        return False
    _stdout_closed = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return True
