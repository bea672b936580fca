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
