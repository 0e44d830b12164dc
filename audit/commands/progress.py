"""The CLI's log for ``audit run``: plain lines on stderr, and on a terminal, progress bars with ETA.

``Context.progress`` (audit/context.py) asks the log for a bar through an optional ``progress``
attribute: this log has one only when stderr is a terminal, so piped or redirected output (CI
logs, ``2> run.log``) stays the plain lines it always was, and ``audit run -q`` (no log at all)
shows neither. ``rich`` is imported when the first bar is drawn, never for ``audit --help`` or
``audit validate``.

A bar is transient: it disappears when its loop ends, and the check's own line
(``[7/24] logreg · explain: ok (41.2s)``) follows. A line of the engine that announces a finished
step also clears any bar its loop left behind (a check that raised half way).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

STEP_LINE = re.compile(r"^\s*\[\d+/\d+\] ")


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal that can redraw a bar (not TERM=dumb)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed, or a stand-in without isatty
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


class ConsoleLog:
    """``log(message)`` writes a line; ``log.progress(who, what)`` (terminals only) draws a bar."""

    def __init__(self, stream: TextIO | None = None, *, bars: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bars = is_terminal(self.stream) if bars is None else bars
        self._lock = threading.Lock()
        self._live: Any = None  # rich.progress.Progress while a bar is shown
        self._tasks: dict[int, Any] = {}  # our bar id -> rich task id
        self._next = 0
        if not self.bars:
            self.progress = None  # type: ignore[assignment]  # Context.progress then writes plain lines

    def __call__(self, message: str) -> None:
        with self._lock:
            if self._live is not None and STEP_LINE.match(message):
                self._stop_all()
            if self._live is not None:
                self._live.console.print(message, markup=False, highlight=False, soft_wrap=True)
            else:
                print(message, file=self.stream, flush=True)

    def progress(self, who: str, what: str) -> Callable[[int, int, str, float, float], None]:
        """A bar for one loop: ``update(done, total, detail, elapsed_s, eta_s)``; it goes away at done == total."""
        with self._lock:
            self._next += 1
            mine = self._next

        def update(done: int, total: int, detail: str, elapsed: float, eta: float) -> None:
            with self._lock:
                live = self._start()
                label = f"{who} · {what}" + (f" ({detail})" if detail else "")
                eta_text = "ETA -" if eta != eta else f"ETA {_duration(eta)}"  # NaN: nothing done yet
                fields = {"description": label, "completed": done, "total": max(total, 1)}
                if mine not in self._tasks:
                    self._tasks[mine] = live.add_task(**fields, eta=eta_text, elapsed=_duration(elapsed))
                else:
                    live.update(self._tasks[mine], **fields, eta=eta_text, elapsed=_duration(elapsed))
                if total and done >= total:
                    live.remove_task(self._tasks.pop(mine))
                    if not self._tasks:
                        self._stop_all()

        return update

    def _start(self) -> Any:
        if self._live is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

            console = Console(file=self.stream, force_terminal=True)
            self._live = Progress(
                TextColumn("        {task.description}", markup=False),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[elapsed]} · {task.fields[eta]}", markup=False),
                console=console,
                transient=True,
                refresh_per_second=8,
            )
            self._live.start()
        return self._live

    def _stop_all(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._tasks.clear()

    def close(self) -> None:
        """Clear any bar still shown (the run ended or was interrupted)."""
        with self._lock:
            self._stop_all()


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: a human duration for the bar."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
