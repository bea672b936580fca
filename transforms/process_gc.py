"""Keeping Python's cycle collector off the objects a worker process loads once.

A worker imports Beam, trafilatura, lxml and langdetect: about 10^5 objects that live as long
as the process. The cycle collector walks all of them in every full collection, and again
when the interpreter exits: 0.35-0.45 s per process here, and the DirectRunner stops its
workers one after another, so a 2-worker run waited ~0.9 s for them after its commit.
``gc.freeze()`` moves them to the permanent generation, which collections skip (exit then
takes ~0.05 s). Objects made later are collected as usual.

Process-wide, so the runner layer calls it (the worker zygote of ``pipelines/worker_zygote``
before it forks workers), never a composite or DoFn.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["freeze_loaded_objects"]

_lock = threading.Lock()
_frozen = False


def freeze_loaded_objects() -> None:
    """Once per process: collects the garbage there is, then freezes every live object.

    Call it when the imports and models are loaded. Later calls do
    nothing, so a long-lived worker never freezes per-bundle data or its garbage.
    """
    global _frozen
    with _lock:
        if _frozen:
            return
        _frozen = True
    gc.collect()
    gc.freeze()
