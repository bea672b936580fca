"""pagestream: raw scraped pages in, clean Hive-partitioned Parquet out, on Apache Beam."""

__version__ = "0.1.0"

#: Version of the Parquet column layout; stored in every file's metadata and in the manifest.
SCHEMA_VERSION = "2"
