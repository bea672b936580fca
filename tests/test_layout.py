"""The package layout: one sub-package per stage, exporting its public names lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

STAGES = ("read", "extract", "clean", "language", "quality", "dedup", "topics", "write")


@pytest.mark.parametrize(
    "package", ["pagestream.transforms", *(f"pagestream.transforms.{s}" for s in STAGES)]
)
def test_every_exported_name_resolves_to_its_defining_module(package):
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        value = getattr(module, name)
        defined_in = getattr(value, "__module__", None)
        if defined_in is not None:  # classes and functions: exported from where they are defined
            assert defined_in.startswith("pagestream.transforms."), (name, defined_in)
        assert name in dir(module)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


def test_a_leaf_module_does_not_import_beam_or_other_stages():
    code = (
        "import sys; import pagestream.transforms.read.html_decode, pagestream.transforms.extract.html;"
        "print(sorted(m for m in sys.modules if m == 'apache_beam' or m.startswith('pagestream.transforms.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(done.stdout.strip())  # noqa: S307 - our own printout of a list of names
    assert "apache_beam" not in loaded
    other_stages = [
        m
        for m in loaded
        if m.split(".")[2] in STAGES and m.split(".")[2] not in ("read", "extract")
    ]
    assert not other_stages, loaded
