"""``pagestream run --config FILE``: options from a TOML or YAML file (flags win over them)."""

from __future__ import annotations

import os

from pagestream.schemas.validation import ValidationError, one_line

__all__ = ["load_config_file"]


def _toml():
    """``tomllib`` (Python 3.11+), else its backport ``tomli`` (same API), installed by setup.py
    on Python 3.10."""
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    return tomllib


def load_config_file(path: str, allowed: set[str]) -> dict:
    """Reads a TOML (``.toml``) or YAML (``.yaml``/``.yml``) options file whose keys are all
    in ``allowed``.

    Raises:
        ValidationError: one line naming the file (missing, unparsable, unknown keys).
    """
    if not os.path.isfile(path):
        raise ValidationError(f"--config {path}: no such file")
    try:
        if path.endswith(".toml"):
            with open(path, "rb") as handle:
                values = _toml().load(handle)
        elif path.endswith((".yaml", ".yml")):
            import yaml

            with open(path, encoding="utf-8") as handle:
                values = yaml.safe_load(handle) or {}
        else:
            raise ValidationError(f"--config {path}: use a .toml, .yaml or .yml file")
    except ValidationError:
        raise
    except Exception as exc:  # tomllib/yaml errors; their messages span several lines
        raise ValidationError(f"--config {path}: cannot parse it ({one_line(exc)})") from exc
    if not isinstance(values, dict):
        raise ValidationError(f"--config {path}: expected a table of options at the top level")
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValidationError(
            f"--config {path}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return values
