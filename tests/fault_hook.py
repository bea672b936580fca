"""A fault hook below pagestream, in the filesystem calls every commit step makes.

Installed in this process by the tests (``Faults(cfg).patches()`` with ``monkeypatch``) or, as
a ``sitecustomize.py`` on a subprocess's ``PYTHONPATH``, from ``FAULT_MATRIX`` (JSON ``cfg``).
Beam's ``LocalFileSystem`` and plain code both rename and delete through ``os.rename``,
``os.replace``, ``os.remove``, ``os.unlink`` and ``shutil.rmtree``, so the hook sees the steps
of any version of the commit protocol. Progress files and lease heartbeats are rewritten on a
timer, so they are not counted: the steps of a run are then the same on every run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

__all__ = ["Faults"]


class Faults:
    """Sees each rename or delete below ``roots`` (a "step"). ``snapshot``: copies the
    roots to ``<snap>/<k>`` before step k. ``kill`` (os._exit(137)), ``raise``
    (PermissionError) or ``block`` (until ``<sync>/go`` exists): before the ``nth`` step
    whose target matches ``match`` (``nth`` 0: every one)."""

    IGNORED = re.compile(r"/(_progress|_leases)/")

    def __init__(self, cfg):
        self.roots = [r.rstrip("/") + "/" for r in cfg["roots"]]
        self.how, self.nth = cfg["how"], cfg.get("nth", 1)
        self.match = re.compile(cfg.get("match", ""))
        self.snap, self.sync = cfg.get("snap"), cfg.get("sync")
        self.steps, self.hits = [], 0

    def _ours(self, paths):
        paths = [os.path.abspath(p) for p in paths]
        return any(p.startswith(r) for p in paths for r in self.roots) and not any(
            self.IGNORED.search(p) for p in paths
        )

    def _snapshot(self, step):
        os.makedirs(self.snap, exist_ok=True)
        with open(os.path.join(self.snap, "steps.jsonl"), "a") as log:
            log.write(json.dumps(step) + "\n")
        for root in self.roots:
            if os.path.isdir(root):
                dest = os.path.join(self.snap, str(len(self.steps)), os.path.basename(root[:-1]))
                shutil.copytree(root, dest, symlinks=True)

    def _fault(self, target):
        if self.how == "kill":
            os._exit(137)
        if self.how == "raise":
            raise PermissionError(13, "injected: permission denied", target)
        open(os.path.join(self.sync, "arrived"), "w").close()
        while not os.path.exists(os.path.join(self.sync, "go")):
            time.sleep(0.05)

    def wrap(self, name, real):
        def wrapped(*args, **kwargs):
            paths = [os.fspath(a) for a in args[:2] if isinstance(a, (str, os.PathLike))]
            if kwargs.get("dir_fd") is None and paths and self._ours(paths):
                self.steps.append([name, *paths])
                if self.how == "snapshot":
                    self._snapshot(self.steps[-1])
                elif self.match.search(paths[-1]):
                    self.hits += 1
                    if self.nth in (0, self.hits):
                        self._fault(paths[-1])
            return real(*args, **kwargs)

        return wrapped

    def patches(self):
        for module, name in (
            (os, "rename"),
            (os, "replace"),
            (os, "remove"),
            (os, "unlink"),
            (shutil, "rmtree"),
        ):
            yield module, name, self.wrap(name, getattr(module, name))


if os.environ.get("FAULT_MATRIX"):
    for _module, _name, _fn in Faults(json.loads(os.environ["FAULT_MATRIX"])).patches():
        setattr(_module, _name, _fn)
