"""Decide, from the config alone and before any process starts, what one cell is:
its device, whether its input is valid, and whether the backend declares it can run it."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig

from benchmark.config import DEVICES, MEMORY_FORMATS

DICT_KEYS = ("options", "min_top1_agreement", "min_f1_ratio", "max_rel_error", "only_backends",
             "unsupported_precisions", "unsupported_models", "precisions", "requires")  # fmt: skip
FAULTS = ("abort", "segfault", "raise", "hang", "oom", "host_oom", "ort_arena_256mb", "rss_after_timing")


class BadInput(ValueError):
    """A config value that cannot work; its message names the value and the fix."""


@lru_cache(maxsize=1)
def nvml_gpu_count() -> int:
    """GPUs NVML sees (none if CUDA_VISIBLE_DEVICES hides them all), without importing torch
    (the parent process stays light)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return 0
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:
        return 0


@lru_cache(maxsize=1)
def gpu_capability() -> float | None:
    """Compute capability of the first visible GPU (e.g. 9.0), from NVML, without torch."""
    try:
        import pynvml

        from benchmark.config import visible_gpus

        pynvml.nvmlInit()
        first = (visible_gpus() or ["0"])[0]  # NVML numbers all GPUs; CUDA_VISIBLE_DEVICES may pick others
        handle = (
            pynvml.nvmlDeviceGetHandleByUUID(first)
            if first.startswith("GPU-")
            else pynvml.nvmlDeviceGetHandleByIndex(int(first))
        )
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        return major + minor / 10
    except Exception:
        return None


def resolve_device(requested: str) -> str:
    if requested not in DEVICES:
        raise BadInput(f"device={requested!r} is not one of {', '.join(DEVICES)}")
    if requested == "auto":
        return "cuda" if nvml_gpu_count() else "cpu"
    if requested == "cuda" and not nvml_gpu_count():
        raise BadInput("device=cuda but no GPU is visible on this machine: use device=cpu (or device=auto)")
    return requested


def check_input(cfg: DictConfig) -> None:
    """One clear line per bad value, before any work starts."""
    if not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise BadInput(f"batch_size={cfg.batch_size} must be a positive integer, e.g. batch_size=1,16,64")
    timing = cfg.timing
    for key in ("warmup_s", "min_s", "max_s"):
        if timing[key] <= 0:
            raise BadInput(f"timing.{key}={timing[key]} must be > 0 seconds")
    for key in ("warmup_iters", "min_iters"):
        if timing[key] < 1:
            raise BadInput(f"timing.{key}={timing[key]} must be >= 1")
    if cfg.memory_format not in MEMORY_FORMATS:
        raise BadInput(f"memory_format={cfg.memory_format} is not one of {', '.join(MEMORY_FORMATS)}")
    if cfg.eval_samples is not None and cfg.eval_samples < 1:
        raise BadInput(f"eval_samples={cfg.eval_samples} must be >= 1, or null for the whole eval split")
    if cfg.threads is not None and cfg.threads < 1:
        raise BadInput(f"threads={cfg.threads} must be >= 1, or null for one per core")
    for phase, limit in cfg.timeout_s.items():
        if limit <= 0:
            raise BadInput(f"timeout_s.{phase}={limit} must be > 0 seconds")
    check_bounds(cfg)
    check_backend_options(cfg.backend)
    check_dataset(cfg.dataset or cfg.model.dataset)
    if cfg.model.family == "onnx" and not cfg.model.path:
        raise BadInput("model=onnx needs model.path=<file.onnx> (the README shows how to export one)")
    if cfg.model.family == "module" and not cfg.model.factory:
        raise BadInput(
            "model=module needs model.factory=package.module:function (e.g. torchvision.models:resnet18)"
        )
    if cfg.fault is not None:
        if cfg.fault not in FAULTS:
            raise BadInput(f"fault={cfg.fault} is not one of {', '.join(FAULTS)}")
        if os.environ.get("BENCHMARK_ALLOW_FAULTS") != "1":
            raise BadInput("fault injection is for tests only: set BENCHMARK_ALLOW_FAULTS=1 to use it")


# MLflow's store schemes (a plain path is a file store); anything else fails only after the cell ran
TRACKING_SCHEMES = ("file", "sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def check_bounds(cfg: DictConfig) -> None:
    """Values of the right type that still cannot mean anything."""
    if cfg.timing.max_s < cfg.timing.min_s:
        raise BadInput(
            f"timing.max_s={cfg.timing.max_s} is below timing.min_s={cfg.timing.min_s}: raise max_s"
        )
    if cfg.model.max_length < 1:
        raise BadInput(f"model.max_length={cfg.model.max_length} must be >= 1 tokens")
    for key in ("min_top1_agreement", "min_f1_ratio"):
        for precision, bound in cfg.quality_gate[key].items():
            if not 0 <= bound <= 1:
                raise BadInput(f"quality_gate.{key}.{precision}={bound} must lie in [0, 1] (a fraction)")
    for precision, bound in cfg.quality_gate.max_rel_error.items():
        if bound <= 0:
            raise BadInput(f"quality_gate.max_rel_error.{precision}={bound} must be > 0")
    uri = cfg.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    scheme = uri.split("://", 1)[0] if uri and "://" in uri else None
    if scheme and scheme.split("+")[0] not in TRACKING_SCHEMES:  # postgresql+psycopg2:// and the like
        source = "tracking_uri" if cfg.tracking_uri else "MLFLOW_TRACKING_URI"
        raise BadInput(
            f"{source}={uri}: MLflow has no {scheme}:// store; use sqlite:///<file>.db, a folder, or http(s)://<server>"
        )


def check_dataset(name: str) -> None:
    """An unknown dataset is refused before a worker starts, with the known ones."""
    import difflib

    from benchmark.plugins import PACKAGE, declared, external_file

    if ":" in name:  # your own loader, package.module:function
        if external_file(name) is None:
            raise BadInput(
                f"dataset={name}: module {name.partition(':')[0]} is not importable (is it on PYTHONPATH?)"
            )
        return
    known = sorted(declared(PACKAGE / "data"))
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean dataset={close[0]}? " if close else ""
        raise BadInput(f"dataset={name} is not a dataset here: {hint}known: {', '.join(known)}")


def _class_init(target: str):
    """The module's syntax tree and the `__init__` of the class `target` (package.module.Class),
    parsed from its source (no import: the parent stays light); (tree, None) for a class without
    one, None if the class cannot be found."""
    import ast

    from benchmark.code_digest import module_file

    module, _, class_name = target.rpartition(".")
    path = module_file(module)
    if path is None:
        return None
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            init = next(
                (i for i in node.body if isinstance(i, ast.FunctionDef) and i.name == "__init__"), None
            )
            return tree, init
    return None


def class_options(target: str) -> list[str] | None:
    """The keyword arguments the class `target` takes in __init__; None if it cannot be read."""
    found = _class_init(target)
    if found is None:
        return None
    _, init = found
    return [a.arg for a in [*init.args.args[1:], *init.args.kwonlyargs]] if init else []


class WholeNumbers(tuple):
    """The values of an `int` option (opset, bias_apart_below_channels): any whole number >= 0.
    A tuple, so that it stands where the Literal and bool choices do."""

    def __contains__(self, value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    def __str__(self) -> str:
        return "a whole number >= 0"


def class_option_choices(target: str) -> dict[str, tuple]:
    """The values each keyword argument of the class's __init__ allows, where its annotation
    says: `Literal[...]` (directly or through a module-level alias), `bool`, or `int`."""
    import ast

    found = _class_init(target)
    if found is None or found[1] is None:
        return {}
    tree, init = found
    aliases = {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }

    def choices(annotation) -> tuple | None:
        if isinstance(annotation, ast.Name):
            if annotation.id == "bool":
                return (True, False)
            if annotation.id == "int":
                return WholeNumbers()
            return choices(aliases[annotation.id]) if annotation.id in aliases else None
        if isinstance(annotation, ast.Subscript) and getattr(annotation.value, "id", "") == "Literal":
            inner = annotation.slice
            return tuple(
                ast.literal_eval(e) for e in (inner.elts if isinstance(inner, ast.Tuple) else [inner])
            )
        return None

    args = [*init.args.args[1:], *init.args.kwonlyargs]
    return {a.arg: c for a in args if (c := choices(a.annotation)) is not None}


def backend_target(name: str) -> str | None:
    """The `_target_` of conf/backend/<name>.yaml, read without composing."""
    from omegaconf import OmegaConf

    from benchmark.config import conf_dir

    path = conf_dir() / "backend" / f"{name}.yaml"
    return OmegaConf.load(path).get("_target_") if path.is_file() else None


def choices_and_option_keys(overrides: list[str], group: str, default: str) -> tuple[list[str], list[str]]:
    """From a command's overrides: the names swept for `group` (`model=resnet,bert`; globs left
    to Hydra) and the `<group>.options.<key>` keys it sets."""
    names, keys = [default], []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key == group:
            names = [n.strip() for n in value.strip("[]").split(",") if n.strip() and "(" not in n]
        elif key.startswith(f"{group}.options."):
            keys.append(key.removeprefix(f"{group}.options.").split(".")[0])
    return names, keys


def family_options(family: str) -> list[str] | None:
    """The fields of the dataclass a model family registers as its options
    (`@register("<family>", options=<Class>)`), read from its source with ast (no import);
    None when the family takes any keyword (custom architectures, your own module)."""
    import ast

    from benchmark.plugins import PACKAGE, declared

    path = declared(PACKAGE / "models").get(family)
    if path is None:
        return None
    tree = ast.parse(path.read_text())
    options_class = None
    for node in ast.walk(tree):
        for deco in getattr(node, "decorator_list", []):
            if isinstance(deco, ast.Call) and deco.args and getattr(deco.args[0], "value", None) == family:
                options_class = next((k.value.id for k in deco.keywords if k.arg == "options"), None)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == options_class:
            return [item.target.id for item in node.body if isinstance(item, ast.AnnAssign)]
    return None


def check_model_option_overrides(overrides: list[str]) -> None:
    """Before Hydra composes: a `model.options.<key>=` override must be an option of the family
    of every model of the command (its options dataclass); else one line with the closest."""
    import difflib

    from omegaconf import OmegaConf

    from benchmark.config import conf_dir

    models, keys = choices_and_option_keys(overrides, "model", default="cnn")
    for model in models:
        path = conf_dir() / "model" / f"{model}.yaml"
        family = OmegaConf.load(path).get("family") if path.is_file() else None
        known = family_options(family) if family else None
        for key in keys if known is not None else []:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean model.options.{close[0]}? " if close else ""
                raise BadInput(
                    f"model.options.{key} is not an option of model {model} (family {family}): {hint}"
                    f"its options: {', '.join(known) or 'none'}"
                )


def check_option_overrides(overrides: list[str]) -> None:
    """Before Hydra composes anything: a `backend.options.<key>=` override (with or without `+`)
    must be an option of every backend of the command, with a value it allows; else one line
    with the closest name, or the allowed values."""
    backends, options = choices_and_option_keys(overrides, "backend", default="eager")
    targets = {name: target for name in backends if (target := backend_target(name))}
    known = {name: class_options(target) for name, target in targets.items()}
    known = {name: opts for name, opts in known.items() if opts is not None}
    if known:  # else a glob or an unknown backend: Hydra's composition answers it
        check_option_keys(known, options)
        check_option_values(overrides, {name: class_option_choices(t) for name, t in targets.items()})


def options_of_swept_groups_forced(args: list[str]) -> list[str]:
    """`backend=onnxruntime,onnxruntime_cudagraphs backend.options.opset=17`: Hydra composes a
    multirun's own config before any job, without the swept choices, so the group's default
    (eager) would refuse the option. Once the checks above have found the option in every swept
    choice, `++` lets that first composition add it; each job then sets it on its own choice."""
    swept = {
        group
        for arg in args
        for group in ("backend", "model")
        if arg.lstrip("+").startswith(f"{group}=") and ("," in arg or "(" in arg)
    }
    return [
        "++" + arg
        if not arg.startswith(("+", "~"))
        and arg.split(".", 1)[0] in swept
        and ".options." in arg.split("=")[0]
        else arg
        for arg in args
    ]


def override_values(overrides: list[str]) -> Iterator[tuple[str, list]]:
    """(key, its values: one, or each of a sweep's) for each override Hydra's own parser can
    read; sweep functions Hydra expands itself (glob, range) and syntax errors are left to it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:  # a syntax error: Hydra's own message says where
        return
    for override in parsed:
        try:
            values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        except HydraException:
            continue
        yield override.key_or_group, values


def check_option_value(key: str, value, backend: str, allowed: tuple) -> None:
    if value not in allowed:
        shown = (
            str(allowed)
            if isinstance(allowed, WholeNumbers)
            else "one of " + ", ".join(str(a).lower() if isinstance(a, bool) else str(a) for a in allowed)
        )
        raise BadInput(f"backend.options.{key}={value} is not allowed by {backend}: {shown}")


def check_option_values(overrides: list[str], choices: dict[str, dict[str, tuple]]) -> None:
    """`backend.options.mode=fastest`: each value (each of a sweep's) must be one the backend's
    constructor allows (its annotation: Literal[...] or bool)."""
    wanted = [o for o in overrides if o.lstrip("+~").startswith("backend.options.")]
    for dotted, values in override_values(wanted):
        key = dotted.removeprefix("backend.options.")
        for name, allowed in ((n, c[key]) for n, c in choices.items() if key in c):
            for value in values:
                check_option_value(key, value, name, allowed)


def known_key_paths() -> list[str]:
    """Every key a command line may set: the schema's (benchmark/config.py), dotted, and each
    config group (conf/<group>/), which `group=` or `+group=` picks."""
    from dataclasses import is_dataclass
    from typing import get_type_hints

    from benchmark.config import BenchmarkConfig, conf_dir

    def walk(node, prefix: str):
        for name, kind in get_type_hints(node).items():
            yield prefix + name
            if isinstance(kind, type) and is_dataclass(kind):
                yield from walk(kind, prefix + name + ".")

    groups = [d.name for d in conf_dir().iterdir() if d.is_dir() and d.name != "hydra"]
    return sorted({*walk(BenchmarkConfig, ""), *groups})


def check_override_keys(overrides: list[str]) -> None:
    """Before Hydra composes anything: an unknown key, with or without `+`, is refused with the
    closest known one (Hydra would offer `+key=`, which the struct schema would then accept)."""
    import difflib

    known = known_key_paths()
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        if key.startswith("hydra") or "/" in key:  # Hydra's own keys and groups (hydra/launcher=...)
            continue
        parts = key.split(".")
        # below a dict-valued key any sub-key goes (options are checked against their class)
        under_dict = any(
            ".".join(parts[:n]) in known and parts[n - 1] in DICT_KEYS for n in range(1, len(parts))
        )
        if key in known or under_dict:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise BadInput(f"{key} is not a key of this benchmark: {hint}`python -m benchmark --help` lists them")


def hydra_group_options(group: str) -> list[str]:
    """What Hydra itself finds for a group of its own (hydra/launcher: its plugins' and ours)."""
    # Hydra lists a group's options only through its config loader, which it keeps internal.
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    from benchmark.config import conf_dir

    search_path = create_config_search_path(str(conf_dir()))
    return ConfigLoaderImpl(config_search_path=search_path).get_group_options(group)


SCHEMA_TYPES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def check_override_values(overrides: list[str]) -> None:
    """`tf32=maybe`: a value the schema's key cannot hold is refused before composing, with the
    key, the value and what the key takes (Hydra would fail the same later, in many lines)."""
    from dataclasses import fields, is_dataclass
    from typing import get_args, get_type_hints

    from omegaconf import OmegaConf, ValidationError

    from benchmark.config import BenchmarkConfig

    def leaves(node, prefix: str = ""):
        """(dotted key, (the dataclass that holds it, its field name, its type))"""
        hints = get_type_hints(node)
        for f in fields(node):
            kind = hints[f.name]
            if is_dataclass(kind):
                yield from leaves(kind, prefix + f.name + ".")
            elif kind in SCHEMA_TYPES or any(a in SCHEMA_TYPES for a in get_args(kind)):
                yield prefix + f.name, (node, f.name, kind)

    types = dict(leaves(BenchmarkConfig))
    for key, values in override_values(overrides):
        if key not in types:
            continue
        owner, name, kind = types[key]
        for value in values:
            try:  # on the dataclass that holds the key: `model` itself is unset until a group fills it
                OmegaConf.update(OmegaConf.structured(owner), name, value, merge=True)
            except ValidationError:
                wanted = SCHEMA_TYPES.get(kind) or " or ".join(
                    SCHEMA_TYPES.get(a, "null") for a in get_args(kind)
                )
                raise BadInput(f"{key}={value} does not fit: {key} takes {wanted}") from None


def check_group_choices(overrides: list[str]) -> None:
    """`model=resnt` is refused before composing, with the closest of that group's YAMLs."""
    import difflib

    from benchmark.config import conf_dir

    roots = [conf_dir()]
    for override in overrides:  # hydra.searchpath=[file:///your/conf]: your YAMLs count too
        key, _, value = override.partition("=")
        if key == "hydra.searchpath":
            roots += [
                Path(p.strip().removeprefix("file://")) for p in value.strip("[]").split(",") if p.strip()
            ]
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        folders = [root / key for root in roots if (root / key).is_dir()]
        if "(" in value or not (folders or key.startswith("hydra/")):  # glob() etc.: Hydra's
            continue
        if key.startswith("hydra/"):  # hydra/launcher=gpus: ours and Hydra's plugins'
            choices = hydra_group_options(key)
        else:
            choices = sorted({p.stem for folder in folders for p in folder.glob("*.yaml")})
        for choice in (c.strip() for c in value.strip("[]").split(",")):
            if choice and choice not in choices:
                close = difflib.get_close_matches(choice, choices, n=1)
                hint = f"did you mean {key}={close[0]}? " if close else ""
                raise BadInput(f"{key}={choice} is not in conf/{key}/: {hint}known: {', '.join(choices)}")


def check_option_keys(known: dict[str, list[str]], keys) -> None:
    """Each key must be an option of every backend in `known` (name -> its options); else one
    line naming the closest option, or the backends that do not take it."""
    import difflib

    for key in map(str, keys):
        takers = [name for name, opts in known.items() if key in opts]
        if not takers:
            every = sorted({o for opts in known.values() for o in opts})
            close = difflib.get_close_matches(key, every, n=1)
            hint = f"did you mean backend.options.{close[0]}? " if close else ""
            raise BadInput(
                f"backend.options.{key} is not an option of {', '.join(known)}: {hint}"
                f"their options: {', '.join(every) or 'none'}"
            )
        if len(takers) < len(known):
            others = ", ".join(name for name in known if name not in takers)
            raise BadInput(
                f"backend.options.{key} is an option of {', '.join(takers)} only, not of {others}: "
                "sweep those backends in separate commands"
            )


def check_backend_options(backend: DictConfig) -> None:
    """A misspelt backend option, or a value its constructor's annotation does not allow, fails
    here, before any worker, with the closest known ones (read from source: no import)."""
    known = class_options(backend._target_)
    if known is not None:
        check_option_keys({backend.name: known}, backend.options)
    for key, allowed in class_option_choices(backend._target_).items():
        if key in backend.options:
            check_option_value(key, backend.options[key], backend.name, allowed)


def declared_unsupported_reason(cfg: DictConfig, device: str) -> str | None:
    """Why the backend or model YAML says this cell cannot run, whatever the machine; None if
    nothing there rules it out."""
    backend, precision, model = cfg.backend, cfg.precision.name, cfg.model.name
    if model in backend.unsupported_models:
        return backend.unsupported_models[model]
    only = cfg.model.only_backends
    if only and backend.name not in only:
        return f"model {model} runs on {', '.join(only)} only: {next(iter(only.values()))}"
    if precision in cfg.model.unsupported_precisions:
        return cfg.model.unsupported_precisions[precision]
    if device not in backend.precisions:
        return f"{backend.name} does not run on {device}"
    if precision not in backend.precisions[device]:
        allowed = ", ".join(backend.precisions[device])
        return f"{backend.name} on {device} runs {allowed}, not {precision}"
    return None


def unsupported_reason(cfg: DictConfig, device: str) -> str | None:
    """Why this cell cannot run here: ruled out by its config, a package this machine lacks, or a
    GPU too old for the precision; None if it can."""
    return ruled_out_by_config(cfg, device) or missing_on_this_machine(cfg, device)


def ruled_out_by_config(cfg: DictConfig, device: str) -> str | None:
    """Why the cell's YAMLs and overrides rule it out on any machine: declared in the YAML, or
    a memory format its model cannot take; None if they do not."""
    declared = declared_unsupported_reason(cfg, device)
    if declared:
        return declared
    if cfg.memory_format == "channels_last" and cfg.model.input_kind != "image":
        return "memory_format=channels_last lays out images: this model takes text"
    return None


def missing_on_this_machine(cfg: DictConfig, device: str) -> str | None:
    """What this machine lacks for a cell its YAMLs offer: a package the backend requires, or a
    GPU new enough for the precision; None if it lacks nothing."""
    backend, precision = cfg.backend, cfg.precision.name
    for module, how in backend.requires.items():
        if importlib.util.find_spec(module) is None:  # found without importing it: the parent stays light
            return f"{module} is not installed here: {how}"
    needed, capability = cfg.precision.min_compute_capability, gpu_capability() if device == "cuda" else None
    if needed and capability is not None and capability < needed:
        return f"{precision} needs a GPU of compute capability {needed} or newer; this one is {capability}"
    return None
