"""Reading raw pages: WARC, WET, JSON Lines, JSON, HTML and plain-text files -> ``RawPage``.

- ``inputs``: globs and directories expanded into a sorted file list (``expand_inputs``),
  with the files skipped and why (``SkippedFile``);
- ``pages``: ``read_records`` (one file, record by record), the ``--max_pages`` plan, splitting
  files among workers, and the composite ``ReadPages``;
- ``jsonl``, ``json_file``, ``warc`` (+ ``warc_scan``; WET too), ``files``: one reader per
  format; ``common``: what they share; ``html_decode`` and ``html_head``: bytes -> str, and
  cheap head scans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.read.common import MAX_RECORD_BYTES, file_uri, parse_fetch_time
    from pagestream.transforms.read.inputs import (
        FORMATS,
        InputError,
        InputFile,
        SkippedFile,
        expand_inputs,
        input_format,
    )
    from pagestream.transforms.read.pages import (
        RECORD_WEIGHT,
        ReadPages,
        limit_records,
        read_records,
        split_files,
    )

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "FORMATS": "pagestream.transforms.read.inputs",
    "InputError": "pagestream.transforms.read.inputs",
    "InputFile": "pagestream.transforms.read.inputs",
    "MAX_RECORD_BYTES": "pagestream.transforms.read.common",
    "RECORD_WEIGHT": "pagestream.transforms.read.pages",
    "ReadPages": "pagestream.transforms.read.pages",
    "SkippedFile": "pagestream.transforms.read.inputs",
    "expand_inputs": "pagestream.transforms.read.inputs",
    "file_uri": "pagestream.transforms.read.common",
    "input_format": "pagestream.transforms.read.inputs",
    "limit_records": "pagestream.transforms.read.pages",
    "parse_fetch_time": "pagestream.transforms.read.common",
    "read_records": "pagestream.transforms.read.pages",
    "split_files": "pagestream.transforms.read.pages",
}

__all__ = [
    "FORMATS",
    "InputError",
    "InputFile",
    "MAX_RECORD_BYTES",
    "RECORD_WEIGHT",
    "ReadPages",
    "SkippedFile",
    "expand_inputs",
    "file_uri",
    "input_format",
    "limit_records",
    "parse_fetch_time",
    "read_records",
    "split_files",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
