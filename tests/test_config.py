import itertools
import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException

from benchmark.config import conf_dir, register_configs
from benchmark.models import known_families
from tests.conftest import ROOT, compose_cell

register_configs()
GROUPS = {
    group: sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
    for group in ("model", "backend", "precision")
}


def test_groups_hold_the_foundation_options():
    assert {"fcn", "cnn", "lstm"} <= set(GROUPS["model"])
    assert {"eager", "torchscript", "compile", "onnxruntime"} <= set(GROUPS["backend"])
    assert {"fp32", "int8"} <= set(GROUPS["precision"])


@pytest.mark.slow  # 400-odd composes, 0.2 s each: the whole product runs in `make test`
@pytest.mark.parametrize(("model", "backend", "precision"), list(itertools.product(*GROUPS.values())))
def test_every_cell_composes(model, backend, precision):
    cfg = compose_cell(f"model={model}", f"backend={backend}", f"precision={precision}", "batch_size=16")
    assert (cfg.backend.name, cfg.precision.name, cfg.batch_size) == (backend, precision, 16)
    assert cfg.model.name and cfg.model.family in known_families() and cfg.model.arch
    assert cfg.backend._target_.startswith("benchmark.backends.")


def test_default_cell_is_cnn_eager_fp32():
    cfg = compose_cell()
    assert (cfg.model.name, cfg.backend.name, cfg.precision.name, cfg.device) == (
        "cnn",
        "eager",
        "fp32",
        "auto",
    )


@pytest.mark.parametrize("override", ["model.nmae=x", "timing.warmup=3", "batchsize=2", "batch_size=abc"])
def test_misspelt_or_mistyped_key_fails_at_compose(override):
    with pytest.raises(ConfigCompositionException):
        compose_cell(override)


def test_help_lists_each_group_option():
    out = subprocess.run(
        [sys.executable, "-m", "benchmark", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for group, options in GROUPS.items():
        assert f"{group}:" in out
        for option in options:
            assert option in out


@pytest.mark.parametrize(
    ("overrides", "params", "expected"),
    [
        (["+sweep=study", "model.pretrained=false"], {"model": "resnet,bert"}, "study"),
        (["model=fcn,cnn,lstm", "batch_size=1,16"], None, "fcn-cnn-lstm"),
        (["backend=eager"], {"model": "resnet, bert"}, "resnet-bert"),
        (["model=glob(*)"], None, "all-models"),
        (["batch_size=4"], None, "cnn"),
    ],
)
def test_a_sweep_is_tracked_under_its_name(overrides, params, expected):
    from benchmark.results.tracking import sweep_name

    assert sweep_name(overrides, params, "cnn") == expected


def test_the_study_presets_hold_the_seeds_eight_models_and_its_cpu_rows():
    from hydra import compose, initialize_config_dir

    from benchmark.config import conf_dir, register_configs

    seed_models = "resnet,mobilenet,bert,t5,gptneo,fcn,cnn,lstm"
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        gpu = compose("config", overrides=["+sweep=study"], return_hydra_config=True)
        cpu = compose("config", overrides=["+sweep=study_cpu"], return_hydra_config=True)
    assert gpu.hydra.sweeper.params.model == cpu.hydra.sweeper.params.model == seed_models
    assert gpu.hydra.sweeper.params.batch_size == cpu.hydra.sweeper.params.batch_size == "1,16,32,64"
    # the seed's CPU rows: FP32, TorchScript, dynamic INT8, ONNX Runtime; each cell on its own cores
    assert (cpu.device, cpu.hydra.sweeper.params.backend) == ("cpu", "eager,torchscript,onnxruntime")
    assert cpu.hydra.sweeper.params.precision == "fp32,int8"
    assert cpu.hydra.launcher.n_jobs == 2 and "joblib" in cpu.hydra.launcher._target_


def test_the_study_bounds_a_stuck_phase_without_changing_any_cells_id():
    """A stuck cell must not eat a 30-minute GPU session, and a resume must still find the cells
    recorded under config.yaml's longer limits."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from benchmark.config import conf_dir, register_configs
    from benchmark.results.records import cell_id_of

    register_configs()
    cell = ["model=fcn", "backend=eager", "precision=fp32", "batch_size=1", "device=cuda"]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        plain = compose("config", overrides=cell)
        study = compose("config", overrides=["+sweep=study", *cell])
    assert study.timeout_s.build == 600 < plain.timeout_s.build
    assert all(study.timeout_s[phase] <= 300 for phase in ("load", "reference", "eval", "timing"))
    resolved = [OmegaConf.to_container(c, resolve=True) for c in (plain, study)]
    assert cell_id_of(resolved[0], "digest") == cell_id_of(resolved[1], "digest")


def test_compose_cell_gives_the_runners_config_resolved():
    """The scripts that build a cell outside the runner (bare_loop, ort_probe, compile_probe)
    compose it here: overrides applied, interpolations resolved, no Hydra context left behind."""
    from benchmark.config import compose_cell

    cfg = compose_cell(["model=cnn", "batch_size=4", "backend=onnxruntime", "backend.options.opset=17"])
    assert (cfg.model.name, cfg.batch_size, cfg.backend.name, cfg.backend.options.opset) == (
        "cnn",
        4,
        "onnxruntime",
        17,
    )
    assert "${" not in str(cfg)  # resolved: no interpolation left
