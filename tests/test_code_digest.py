"""Cell ids know the code: a cell's id changes with the source that can change its figures, and
only with that, so `resume=true` measures again exactly the cells whose code changed."""

import shutil

import pytest

from benchmark.code_digest import PACKAGE, cell_modules, code_digest
from benchmark.results.records import cell_id_of

ORT = "benchmark.backends.onnxruntime.OnnxRuntimeBackend"
EAGER = "benchmark.backends.eager.EagerBackend"
TORCHAO = "benchmark.backends.torchao.TorchAoBackend"


@pytest.fixture
def package_copy(tmp_path):
    root = tmp_path / "benchmark"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def digests(root):
    code_digest.cache_clear()  # one sweep reads the files once; these tests edit them
    cells = [(ORT, "custom", "digits"), (EAGER, "custom", "digits"), (TORCHAO, "torchvision", "synthetic"),
             (EAGER, "hf", "imdb")]  # fmt: skip
    return {cell: code_digest(*cell, root=root) for cell in cells}


def edit(path, line="\n# a changed line\n"):
    path.write_text(path.read_text() + line)


def test_a_copy_of_the_code_has_the_same_digests(package_copy):
    assert digests(package_copy) == digests(PACKAGE)


def test_changing_a_backend_changes_its_cells_only(package_copy):
    before = digests(package_copy)
    edit(package_copy / "backends" / "onnxruntime.py")
    after = digests(package_copy)
    assert [cell for cell in before if before[cell] != after[cell]] == [(ORT, "custom", "digits")]


def test_a_module_a_backend_imports_counts_for_it(package_copy):
    before = digests(package_copy)
    edit(package_copy / "backends" / "compile.py")  # torchao compiles through it
    after = digests(package_copy)
    changed = {cell[0] for cell in before if before[cell] != after[cell]}
    assert changed == {TORCHAO}


def test_the_shared_measuring_code_changes_every_cell(package_copy):
    before = digests(package_copy)
    edit(package_copy / "measure" / "latency.py")
    after = digests(package_copy)
    assert all(before[cell] != after[cell] for cell in before)


def test_a_model_family_and_a_dataset_count_for_their_cells(package_copy):
    before = digests(package_copy)
    edit(package_copy / "data" / "imdb.py")
    after = digests(package_copy)
    assert [cell for cell in before if before[cell] != after[cell]] == [(EAGER, "hf", "imdb")]
    modules = {p.relative_to(PACKAGE).as_posix() for p in cell_modules(EAGER, "custom", "digits")}
    assert {"models/custom.py", "models/training.py", "data/digits.py"} <= modules
    assert "models/hf.py" not in modules and "backends/onnxruntime.py" not in modules


def test_the_cell_id_carries_the_digest():
    config = {"model": {"name": "fcn"}, "batch_size": 1}
    assert cell_id_of(config, "a" * 16) != cell_id_of(config, "b" * 16)
    assert cell_id_of(config, "a" * 16) == cell_id_of({**config, "resume": True}, "a" * 16)
