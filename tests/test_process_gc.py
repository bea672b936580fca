"""freeze_loaded_objects: the objects loaded at start-up go to the permanent generation, once."""

from __future__ import annotations

import subprocess
import sys

_CHECK = """
import gc
import weakref
from pagestream.transforms.process_gc import freeze_loaded_objects
assert gc.get_freeze_count() == 0
class Node:
    pass
node = Node()
node.me = node  # a cycle: garbage once unreferenced, to be collected, not frozen
gone = weakref.ref(node)
del node
freeze_loaded_objects()
first = gc.get_freeze_count()
assert first > 1000, first
assert gone() is None, "garbage was frozen"
later = [[n] for n in range(5000)]
freeze_loaded_objects()
assert gc.get_freeze_count() == first, "a second call froze the objects made since"
"""


def test_loaded_objects_are_frozen_once_per_process():
    # In a fresh interpreter: this test process may have frozen its heap already.
    subprocess.run([sys.executable, "-c", _CHECK], check=True)


_COMPOSITE = """
import gc
from pagestream.transforms.extract import lxml_speedups
from pagestream.transforms.extract.extract_fn import ExtractFn
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.schemas.records import KIND_RAW, RawPage
fn = ExtractFn(ExtractConfig(), "r", "2024-05-01", lxml_speedups=True)
fn.setup()
fn.start_bundle()
html = "<html><body><article><p>" + "Otters live in rivers. " * 20 + "</p></article></body></html>"
[page] = fn.process(RawPage(KIND_RAW, "https://a.com/", "a", html=html))
fn.finish_bundle()
fn.teardown()
assert page.text.startswith("Otters live in rivers."), page
assert gc.get_freeze_count() == 0, "a DoFn froze the heap"
assert not lxml_speedups.installed(), "a DoFn installed the speed-ups in its worker"
"""


def test_the_extract_dofn_changes_nothing_process_wide():
    """Freezing the heap and the lxml speed-ups are the runner's to decide (the zygote, the
    extraction child), not a side effect of using a composite."""
    subprocess.run([sys.executable, "-c", _COMPOSITE], check=True)
