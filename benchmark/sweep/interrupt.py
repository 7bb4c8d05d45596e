"""Ctrl-C that a sweep never loses. Python raises KeyboardInterrupt wherever the signal lands;
when that is inside a finalizer or a gc callback (SQLAlchemy's, while MLflow logs a cell), the
interpreter prints "Exception ignored in ..." and carries on, and the sweep would measure the
remaining cells and exit 0. The handler here also notes the interrupt, and the sweep checks
that note between its steps: before a cell starts, while it waits for a worker, and at exit;
`exit_interrupted` then ends it with one line and exit code 130."""

from __future__ import annotations

import signal
import sys
import threading
from typing import NoReturn

_interrupted = threading.Event()


def _note_and_raise(signum, frame) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


def install_interrupt_note() -> None:
    """Replace Python's own SIGINT handler (only that one: a caller's handler stays) in the main
    thread, where handlers run; idempotent."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _note_and_raise)


def raise_if_interrupted() -> None:
    """Raise the KeyboardInterrupt a finalizer swallowed."""
    if _interrupted.is_set():
        raise KeyboardInterrupt


def exit_interrupted() -> NoReturn:
    """End an interrupted sweep: one line, not Hydra's traceback, and exit code 130."""
    # stopping already: a second Ctrl-C must not turn this exit into a traceback or a signal death
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(
        "\nInterrupted: finished cells keep their records; run the same command with resume=true "
        "to measure the rest",
        file=sys.stderr,
    )
    forget_interrupts_that_left_an_exec()
    raise SystemExit(130)


def forget_interrupts_that_left_an_exec() -> None:
    """CPython (3.8 on) ends a process by SIGINT at exit, whatever exit code it was asked for,
    when its last exec() or eval() of a string ended in a KeyboardInterrupt, even one caught
    further up (its `unhandled_keyboard_interrupt` flag, meant for an uncaught Ctrl-C:
    bpo-1054041). A sweep runs such code: scipy's array_api_compat imports modules inside exec()
    of a string, dataclasses build methods with one, and a Ctrl-C landing there made an
    interrupted sweep die by SIGINT (returncode -2) instead of exiting 130. Each evaluation of a
    string clears that flag before it runs: an empty one clears it and raises nothing."""
    exec("")  # the empty string: the reset, and nothing else
