"""Version guards for the code that relies on private internals of Beam or trafilatura.

pagestream's speed-ups (``extract.lxml_speedups``, ``extract.metadata``, the forked
DirectRunner workers of ``pipelines.local_workers``) use names and behaviours a library does
not promise to keep. Each declares the versions it was tested on; on any other installed
version :func:`tested` says no, logs one line saying which library and version, and the
caller keeps the library's stock behaviour instead.
"""

from __future__ import annotations

import functools
import logging
import threading
from importlib import metadata

__all__ = ["TESTED", "installed_version", "tested"]

#: Speed-up -> {distribution: the ``major.minor`` versions it was tested on}.
TESTED: dict[str, dict[str, tuple[str, ...]]] = {
    # rewrites XPath objects and parser class lookups in these libraries' modules
    "lxml_speedups": {"trafilatura": ("2.3",), "htmldate": ("1.11",), "justext": ("3.0",)},
    # calls trafilatura.metadata/htmldate functions one by one, as extract_metadata does
    "html_meta": {"trafilatura": ("2.3",), "htmldate": ("1.11",)},
    # subclasses GrpcWorkerHandler, runs SubprocessSdkWorker, sdk_worker_main.create_harness
    # and Beam's worker command line; builds the FnApiRunner as SwitchingDirectRunner does
    "forked_workers": {"apache-beam": ("2.77",)},
    "fn_api_runner": {"apache-beam": ("2.77",)},
    # wraps the visitor DaskRunner.to_dask_bag_visitor returns (its visit_transform and bags)
    "dask_partitions": {"apache-beam": ("2.77",)},
}

_LOG = logging.getLogger("pagestream")
_logged: set[str] = set()
_lock = threading.Lock()


@functools.cache
def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def tested(feature: str) -> bool:
    """Whether every library ``feature`` relies on is installed at a version it was tested on.

    When not, logs one warning per feature and process (``feature`` off, which library, which
    version, the tested ones) and returns False: the caller then keeps stock behaviour.
    """
    for distribution, versions in TESTED[feature].items():
        found = installed_version(distribution)
        if found is not None and _major_minor(found) in versions:
            continue
        with _lock:
            first = feature not in _logged
            _logged.add(feature)
        if first:
            _LOG.warning(
                "pagestream: %s off (stock behaviour): %s %s is not a version it was tested "
                "on (%s)",
                feature,
                distribution,
                found or "not installed",
                ", ".join(f"{v}.x" for v in versions),
            )
        return False
    return True
