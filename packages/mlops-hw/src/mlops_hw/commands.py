"""Running the small system commands the probes read (``sysctl``, ``pmset``, ``notifyutil``, ...).

Every probe goes through :func:`run`, so a missing tool, a hang or a crash turns into ``None``
("no reading") instead of an exception or a made-up value. Parsing lives elsewhere, in pure
functions over the text, so that it can be tested on any machine against recorded outputs.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

__all__ = ["DEFAULT_TIMEOUT_S", "run"]

#: seconds; a probe that takes longer than this is treated as "no reading"
DEFAULT_TIMEOUT_S = 3.0


def run(argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT_S) -> str | None:
    """Stdout of ``argv``, or ``None`` when the tool is missing, times out or prints nothing.

    A non-zero exit still returns what was printed: ``sysctl a b`` exits 1 when one name is
    unknown on this OS version but prints the others, and those are real readings.
    """
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.stdout.strip() else None
