"""Ctrl-C that a sweep never loses. Python raises KeyboardInterrupt wherever the signal lands;
when that is inside a finalizer or a gc callback (SQLAlchemy's, while MLflow logs a cell), the
interpreter prints "Exception ignored in ..." and carries on, and the sweep would measure the
remaining cells and exit 0. The handler here also notes the interrupt, and the sweep checks
that note between its steps: before a cell starts, while it waits for a worker, and at exit."""

from __future__ import annotations

import signal
import threading

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
