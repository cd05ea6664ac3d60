"""Reading the files a scenario names: bounded, regular files only, UTF-8.

Owns: read_limited (the bytes of a regular file within a limit, FileRefused otherwise), read_text
(the one bounded read + UTF-8 decode of the scenario file and of its list files), and the limits.
Not here: what the text means (loader.py, lists.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .base import ScenarioError

# What the loader refuses to read (README, Scenarios). A scenario is a hand-written file of a few
# kilobytes (the ready ones are 1-3 KB); these bound what a mistaken or hostile file can cost
# before it is refused, each with a file:line error.
MAX_SCENARIO_BYTES = 10 * 1024 * 1024  # the scenario file
MAX_LIST_FILE_BYTES = 100 * 1024 * 1024  # a blacklist file (~7 million numbers)
FILE_DIRS_ENV = "CARRIER_SIM_FILE_DIRS"  # more folders list files may be in (os.pathsep-separated)

_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def size_label(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else f"{n:,} bytes"


class FileRefused(Exception):
    """A file read_limited() will not read; the message says why, never what the file holds."""


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Opened without blocking (a FIFO or a
    device is refused, not waited on) and checked on the open descriptor, so that what is checked
    is what is read. Raises FileRefused."""
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_CLOEXEC", "O_NOCTTY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
            raise FileRefused(f"not a regular file ({kind})")
        if info.st_size > limit:
            raise FileRefused(f"larger than the limit of {size_label(limit)}")
        chunks, size = [], 0
        while size <= limit:  # a regular file may still grow while it is read
            chunk = os.read(fd, min(limit + 1 - size, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileRefused(f"larger than the limit of {size_label(limit)}")
    return data


def read_text(path: Path, limit: int, where: str | None = None) -> str:
    """The text of a UTF-8 file of at most `limit` bytes (read_limited). Raises ScenarioError.

    `where` names a file the scenario refers to (e.g. "blacklists.platform"): its errors name the
    field and never show the file's content, and a byte order mark is allowed. Without it, the
    file is the scenario itself and a bad byte is shown with its column."""
    label = f" {where}:" if where is not None else ""
    try:
        data = read_limited(path, limit)
    except FileRefused as exc:
        raise ScenarioError(f"{path}:{label} {exc}") from None
    try:
        return data.decode("utf-8-sig" if where is not None else "utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if where is not None:
            raise ScenarioError(f"{path}:{line}:{label} not UTF-8 text") from None
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x} "
                            f"at column {column})") from None
