"""A private scratch folder per process for a server's files (uploads, results, Gradio's
cache): made readable by this user only, removed at exit, the folders of dead processes swept
at start (a killed server cannot clean up), and kept under a size, oldest files first.

Gradio's default cache, ``/tmp/gradio``, is shared by every Gradio process of the machine:
its file route then serves other processes' files, and what a process leaves there (a
restart, a kill) stays, since Gradio tracks what to delete only in the process's memory."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

PREFIX = "landmarks-app-"  # + the process id + a random part


def make(base: str | Path | None = None) -> Path:
    """A new private folder in ``base`` (default: the system's temporary folder), removed at
    exit; first, the folders there of this user's processes that are gone are removed."""
    base = Path(base or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    sweep(base)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))  # mode 0700
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def sweep(base: str | Path) -> list[Path]:
    """Remove the scratch folders in ``base`` whose process is gone; returns them."""
    removed = []
    for folder in Path(base).glob(PREFIX + "*"):
        pid = folder.name[len(PREFIX):].partition("-")[0]
        try:
            mine = folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2**22  # another user's process (or no such pid at all)
    return True


def disk_bytes(folder: str | Path) -> int:
    """Bytes in the files under ``folder``."""
    return sum(size for _, size, _ in _entries(Path(folder)))


def _entries(folder: Path) -> list[tuple[Path, int, float]]:
    """(entry, bytes, newest modification) of each file and folder directly in ``folder``."""
    out = []
    for entry in folder.iterdir() if folder.is_dir() else []:
        size, newest = 0, 0.0
        for path in [entry, *(entry.rglob("*") if entry.is_dir() and not entry.is_symlink() else [])]:
            try:
                st = path.lstat()
            except OSError:  # deleted meanwhile
                continue
            size += st.st_size if path.is_file() else 0
            newest = max(newest, st.st_mtime)
        out.append((entry, size, newest))
    return out


def trim(folder: str | Path, max_bytes: int, keep=()) -> int:
    """Delete the entries of ``folder`` (Gradio keeps one file per folder), oldest first, until
    its files take at most ``max_bytes``; ``keep``: entries never deleted. Returns bytes freed."""
    keep = {Path(k).resolve() for k in keep}
    every = _entries(Path(folder))
    total = sum(size for _, size, _ in every)
    entries = sorted((e for e in every if e[0].resolve() not in keep), key=lambda e: e[2])
    freed = 0
    for entry, size, _ in entries:
        if total - freed <= max_bytes:
            break
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        freed += size
    return freed


def keep_trimmed(folder: str | Path, max_bytes: int, every: float = 30.0, keep=()) -> threading.Thread:
    """``trim`` every ``every`` seconds in a daemon thread, for as long as the process runs."""
    def loop():
        while True:
            time.sleep(every)
            try:
                trim(folder, max_bytes, keep)
            except OSError:
                pass  # the folder is going away (exit)

    thread = threading.Thread(target=loop, daemon=True, name="scratch-trim")
    thread.start()
    return thread
