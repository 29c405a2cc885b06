"""Reading a service's log: the last lines, or follow it as it grows (``mlops logs``)."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["follow", "tail"]


def tail(path: Path, n: int = 20) -> str:
    """The last ``n`` lines of ``path`` ("(empty log)" / "(no log yet)" otherwise)."""
    try:
        with path.open("rb") as fh:
            lines = deque(fh, maxlen=n) if n > 0 else deque()
    except OSError:
        return f"(no log yet at {path})"
    text = b"".join(lines).decode(errors="replace").rstrip("\n")
    return text or "(empty log)"


def follow(path: Path, stop: Callable[[], bool] = lambda: False, poll: float = 0.25) -> Iterator[str]:
    """Yield lines appended to ``path`` from now on; survives rotation (the file replaced or cut)."""
    fh = None
    inode = None
    try:
        while not stop():
            if fh is None:
                try:
                    fh = path.open("rb")
                    inode = os.fstat(fh.fileno()).st_ino
                    fh.seek(0, os.SEEK_END)
                except OSError:
                    time.sleep(poll)
                    continue
            line = fh.readline()
            if line:
                yield line.decode(errors="replace").rstrip("\n")
                continue
            try:
                st = path.stat()
                rotated = st.st_ino != inode or st.st_size < fh.tell()
            except OSError:
                rotated = False
            if rotated:
                # supervisord rotated it: the new file starts empty, read it from its start
                fh.close()
                fh = path.open("rb")
                inode = os.fstat(fh.fileno()).st_ino
            else:
                time.sleep(poll)
    finally:
        if fh is not None:
            fh.close()
