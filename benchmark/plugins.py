"""Plug-ins found by what they declare, not by an import list: a dataset or model-family module
registers its loader with `@register("<name>")`, and the module that declares a name is found by
reading the folder's sources (no import), then imported alone. Adding one is adding a module."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REGISTER = re.compile(r"@register\(\s*[\"']([\w.-]+)[\"']")


def declared(folder: Path) -> dict[str, Path]:
    """Every name registered by a module of `folder`, with its module's file."""
    names = {}
    for path in sorted(folder.glob("*.py")):
        for name in REGISTER.findall(path.read_text()):
            names.setdefault(name, path)
    return names


def external_file(name: str) -> Path | None:
    """For a plug-in outside this package, named `package.module:function` (a model YAML's
    `family`, a `dataset`): its module's file, found without importing it; None if not found."""
    import importlib.util

    module = name.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None


def external_loader(name: str):
    """The function `package.module:function` names (a plug-in outside this package)."""
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def import_plugin(kind: str, name: str) -> None:
    """Import the module of benchmark/<kind>/ that registers `name` (its decorator runs then);
    an unknown name raises ValueError listing the known ones."""
    modules = declared(PACKAGE / kind)
    if name not in modules:
        what = {"data": "dataset", "models": "model family"}.get(kind, kind)
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(sorted(modules))}")
    path = modules[name]
    module = "benchmark." + kind if path.name == "__init__.py" else f"benchmark.{kind}.{path.stem}"
    importlib.import_module(module)
