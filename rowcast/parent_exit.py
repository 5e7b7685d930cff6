"""Ask Linux to signal a process when its parent exits."""

from __future__ import annotations

import ctypes
import os
import signal

# PR_SET_PDEATHSIG from <sys/prctl.h>.
_PR_SET_PDEATHSIG = 1


def signal_on_parent_exit(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Have signum sent to this process when parent_pid, its parent, exits.

    Returns False where prctl() does not exist (not Linux). When the parent
    has already exited, the signal is sent at once. Linux sends it when the
    parent's thread that started this process exits, so start it from a
    thread that lives as long as the parent.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent_pid:
        # The parent exited before prctl() took effect.
        os.kill(os.getpid(), signum)
    return True
