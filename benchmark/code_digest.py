"""The code version in a cell id: a digest of the source that can change that cell's measurement.

That is the shared measuring code (the worker, measure/, the backend, model and dataset bases),
plus the cell's own backend, model family and dataset modules with the project modules they
import. So `resume=true` measures again exactly the cells whose code changed. Read from the
files with `ast`, without importing them: the parent process stays light (no torch)."""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

from benchmark.plugins import declared, external_file

PACKAGE = Path(__file__).resolve().parent
SHARED = (
    "worker",
    "measure",
    "backends/__init__.py",
    "backends/artifact_cache.py",
    "models/__init__.py",
    "data/__init__.py",
    "sweep/placement.py",
    "cache.py",
)


def module_file(module: str, root: Path = PACKAGE) -> Path | None:
    """benchmark.backends.onnxruntime -> <root>/backends/onnxruntime.py (or a package's __init__)."""
    parts = module.split(".")[1:]
    for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if parts and candidate.is_file():
            return candidate
    return None


def project_imports(path: Path, root: Path = PACKAGE) -> set[Path]:
    """The project's own modules `path` imports (at any depth in the file, lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("benchmark"):
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("benchmark")]
        found |= {file for name in names if (file := module_file(name, root)) is not None}
    return found


def closure(start: Path, root: Path = PACKAGE) -> set[Path]:
    """`start` and the project modules it imports, transitively; packages' __init__ modules
    (the registries and bases, in SHARED) do not pull in every plug-in they list."""
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [p for p in project_imports(path, root) if p.name != "__init__.py"]
    return seen


def cell_modules(backend_target: str, model_family: str, dataset: str, root: Path = PACKAGE) -> set[Path]:
    files = set()
    for entry in SHARED:
        path = root / entry
        files |= set(path.rglob("*.py")) if path.is_dir() else {path}
    backend = module_file(backend_target.rsplit(".", 1)[0], root)
    if backend is not None:
        files |= closure(backend, root)
    for folder, name in ((root / "models", model_family), (root / "data", dataset)):
        module = external_file(name) if ":" in name else declared(folder).get(name)
        if module is not None:
            files |= closure(module, root)
    return files


@lru_cache(maxsize=256)
def code_digest(backend_target: str, model_family: str, dataset: str, root: Path = PACKAGE) -> str:
    """sha256 over the relative paths and contents of the cell's modules (16 hex digits)."""
    digest = hashlib.sha256()
    for path in sorted(cell_modules(backend_target, model_family, dataset, root)):
        name = path.relative_to(root) if path.is_relative_to(root) else path.name  # a plug-in of yours
        digest.update(str(name).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
