"""The project's one error path: known failures are :class:`PipelineError`, printed as one line with exit code 2.

A message says what is wrong, which file, and what to do. ``--debug`` on any stage (or ``PIPELINE_DEBUG=1``)
shows the traceback of a known failure too; unexpected exceptions always show theirs.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

DEBUG_ENV = "PIPELINE_DEBUG"
"""set to 1 to see tracebacks of known failures"""

DISK_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
"""OS errors that mean the output location cannot take the write (not a bug of the project)"""


class PipelineError(Exception):
    """A known failure: one line saying what is wrong, which file, and what to do.

    :param what: what is wrong (may already name the file)
    :param path: the file or folder concerned (prefixed to the message when given)
    :param fix: what the user can do about it
    """

    def __init__(self, what: str, path: Path | str | None = None, fix: str | None = None) -> None:
        self.what, self.path, self.fix = what, path, fix
        msg = f"{path}: {what}" if path is not None else what
        super().__init__(f"{msg}; {fix}" if fix else msg)


def debug_enabled() -> bool:
    """Whether known failures should show their traceback."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def disk_error(exc: OSError) -> PipelineError | None:
    """The one-line form of an OS error that means a full disk or an unwritable path (``None`` for others)."""
    reason = DISK_ERRNOS.get(exc.errno or -1)
    if reason is None:
        return None
    where = exc.filename if exc.filename is not None else "an output file"
    return PipelineError(
        f"cannot write: {reason}",
        where,
        "free space or choose a writable location under `paths` in params.yaml, then run again "
        "(nothing published was changed)",
    )
