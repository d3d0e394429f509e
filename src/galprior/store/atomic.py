"""Atomic writes: every file or directory the workflow produces appears whole or not at all.

One helper for all of them (stores, model weights, training checkpoints, the latent
prior, JSON metadata): the content is written to a hidden temporary sibling of the
target, and moved into place with a rename only once the writer has returned. A job
killed halfway therefore leaves the previous file (or no file), never a truncated one,
and a writer that raises leaves nothing behind. Temporaries left by a writer that was
killed (SIGKILL, pre-emption) are deleted by the next write of the same path.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import uuid
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from . import faults

__all__ = ["atomic_target", "atomic_write", "atomic_json_save", "temporary_sibling"]


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """A hidden, unique path in the same folder as ``path`` (same filesystem: rename is atomic)."""
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _remove_stale_siblings(path: Path) -> None:
    """Delete temporaries of ``path`` left by a writer that was killed (one job writes a path)."""
    for tag in ("tmp", "old"):
        for stale in path.parent.glob(f".{glob.escape(path.name)}.{tag}-????????"):
            _remove(stale)


@contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; move it to ``path`` when the block ends.

    The context-manager form of :func:`atomic_write`, for writers that fill their output
    piece by piece (a store appended shard by shard, several stores written side by
    side). The same guarantees: on any exception the temporary is removed and ``path``
    is untouched; a directory at ``path`` is replaced only once the new one is complete.
    """
    path = Path(path)
    faults.before_write(path)  # no-op unless the reliability tests planned a kill here
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(path)
    tmp = temporary_sibling(path)
    faults.write_started()
    try:
        yield tmp
        faults.at_write(tmp)  # no-op unless the reliability tests planned a kill here
        if tmp.is_dir():
            old = None
            if path.exists():
                old = temporary_sibling(path, "old")
                path.rename(old)
            tmp.rename(path)
            if old is not None:
                _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        faults.write_ended()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then move it to ``path``.

    ``write`` may create a file or a directory at ``tmp``. An existing directory at
    ``path`` is moved aside first and deleted only after the new one is in place (a
    directory cannot be replaced by one rename); an existing file is replaced by
    ``os.replace``. On any exception the temporary is removed and ``path`` is untouched.
    Returns ``path``.
    """
    with atomic_target(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_json_save(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))
