"""One configuration object: packaged defaults < profile < BIT_* env < flags.

:func:`resolve_config` is the only entry point. It validates everything at
once (unknown keys with the nearest valid key, wrong types naming key, file
and expected type) and returns a frozen :class:`Settings` that also records
where each value came from, for ``bit profile show``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from bitcli.artifacts import Artifacts
from bitcli.errors import ConfigError

BACKENDS = ("auto", "ascend", "onnxruntime", "openvino", "torch")
PRECISIONS = ("fp32", "int8", "bf16")
PROFILE_NAME = "bit.yaml"

# --------------------------------------------------------------------------- schema
# Each leaf: (type name shown to users, checker returning the clean value or raising
# ValueError, is_path). Paths are resolved against the folder of the file that set them.


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError
    return v


def _pos_int(v: Any) -> int:
    if _int(v) <= 0:
        raise ValueError
    return v


MAX_BATCH = 4096        # ais_bench refuses larger batches (ascend-tools.md)
MAX_IMAGE_SIZE = 1024   # 8x the trained 128 px; one 1024 px sample is 12 MiB, activations far more
MAX_SYNTHETIC = 1_000_000


def _upto(limit: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if _pos_int(v) > limit:
            raise ValueError(f"{v} is above the largest supported value, {limit}")
        return v

    return check


def _nonneg_int(v: Any) -> int:
    if _int(v) < 0:
        raise ValueError
    return v


def _opt(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else check(v)


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError
    return v


def _choice(*options: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in options:
            near = difflib.get_close_matches(str(v), options, n=1)
            raise ValueError(f"did you mean '{near[0]}'?" if near else "")
        return v

    return check


def _fraction(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise ValueError
    return float(v)


def _int_list(v: Any) -> tuple[int, ...]:
    if not isinstance(v, (list, tuple)) or not v:
        raise ValueError
    return tuple(_nonneg_int(x) for x in v)


def _op_types(v: Any) -> tuple[str, ...]:
    """ONNX op type names, as a list or a comma-separated string; empty: every type."""
    items = [x.strip() for x in v.split(",")] if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) and x.isidentifier() for x in items if x):
        raise ValueError
    return tuple(x for x in items if x)


def _bs_list(v: Any) -> tuple[int, ...]:
    if not isinstance(v, (list, tuple)):
        raise ValueError
    problems = batch_size_problems([str(x) for x in v]) if v else ["the list is empty"]
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(int(x) for x in v)


SCHEMA: dict[str, tuple[str, Callable[[Any], Any], bool]] = {
    "workdir": ("path", _str, True),
    "dataset.name": ("'cifar10'", _choice("cifar10"), False),
    "dataset.path": ("path", _str, True),
    "dataset.download": ("bool", _bool, False),
    "dataset.limit": ("positive int or null", _opt(_pos_int), False),
    "dataset.synthetic": (f"positive int up to {MAX_SYNTHETIC:,} or null", _opt(_upto(MAX_SYNTHETIC)), False),
    "model.arch": ("str", _str, False),
    "model.weights": ("path or 'random'", _str, True),
    "model.seed": ("int", _int, False),
    "model.num_classes": ("positive int or null", _opt(_pos_int), False),
    "model.image_size": (f"positive int up to {MAX_IMAGE_SIZE}", _upto(MAX_IMAGE_SIZE), False),
    "model.opset": ("int", _int, False),
    "ascend.chip": ("str", _str, False),
    "ascend.devices": ("list of device ids (int >= 0)", _int_list, False),
    "ascend.set_env": ("path", _str, True),
    "ascend.precision_mode": ("str or null", _opt(_str), False),
    "backend": ("one of " + "|".join(BACKENDS), _choice(*BACKENDS), False),
    "precision": ("one of " + "|".join(PRECISIONS), _choice(*PRECISIONS), False),
    "onnxruntime.provider": ("str", _str, False),
    "onnxruntime.threads": ("positive int or null", _opt(_pos_int), False),
    "batch_sizes": (f"list of distinct positive ints up to {MAX_BATCH}", _bs_list, False),
    "bench.loop": ("positive int", _pos_int, False),
    "bench.warmup": ("int >= 0", _nonneg_int, False),
    "quantize.engine": ("auto|onnxruntime|nncf", _choice("auto", "onnxruntime", "nncf"), False),
    "quantize.method": ("minmax|entropy|percentile (onnxruntime), mixed|performance (nncf)",
                        _choice("minmax", "entropy", "percentile", "mixed", "performance"), False),
    "quantize.calib": ("positive int", _pos_int, False),
    "quantize.holdout": ("positive int", _pos_int, False),
    "quantize.seed": ("int", _int, False),
    "quantize.keep_ends": ("bool", _bool, False),
    "quantize.reduce_range": ("auto|on|off", _choice("auto", "on", "off"), False),
    "quantize.min_agreement": ("number 0..1", _fraction, False),
    "quantize.max_top1_drop": ("number 0..1", _fraction, False),
    "quantize.op_types": ("list of ONNX op types, e.g. [Conv]; [] = every type", _op_types, False),
    "quantize.accuracy_control": ("auto|on|off", _choice("auto", "on", "off"), False),
    "quantize.validation": ("positive int", _pos_int, False),
}

# Environment variables cover machine facts (STYLE.md §3); flags beat them.
ENV_VARS: dict[str, str] = {
    "BIT_WORKDIR": "workdir",
    "BIT_CHIP": "ascend.chip",
    "BIT_BACKEND": "backend",
    "BIT_DEVICES": "ascend.devices",
    "BIT_PRECISION": "precision",
    "BIT_SET_ENV": "ascend.set_env",
}
SECTIONS = sorted({k.split(".")[0] for k in SCHEMA})


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """The effective configuration; ``values`` is keyed by dotted name."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    profile: Path | None = None
    problems: tuple[str, ...] = field(default=())

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def workdir(self) -> Path:
        return Path(self.values["workdir"])

    @property
    def artifacts(self) -> Artifacts:
        return Artifacts(self.workdir)

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return tuple(self.values["batch_sizes"])

    def nested(self) -> dict[str, Any]:
        """The values as the nested mapping a profile file has."""
        tree: dict[str, Any] = {}
        for key, value in self.values.items():
            node = tree
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = list(value) if isinstance(value, tuple) else value
        return tree


def default_profile_text() -> str:
    """The packaged, commented default profile (what ``bit profile init`` writes)."""
    return resources.files("bitcli").joinpath("default.yaml").read_text()


def find_profile(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """--profile, else $BIT_PROFILE, else ./bit.yaml when present, else None."""
    if explicit is not None:
        return Path(explicit)
    if env.get("BIT_PROFILE"):
        return Path(env["BIT_PROFILE"])
    local = Path(PROFILE_NAME)
    return local if local.is_file() else None


def resolve_config(
    profile: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults, profile, environment and flags; validate all of it once.

    Args:
        profile: explicit profile path (``--profile``); None looks for
            ``$BIT_PROFILE`` then ``./bit.yaml``.
        flags: dotted key → value from the command line; None values mean
            "not given" and are ignored.
        env: environment (default ``os.environ``).

    Returns:
        The frozen :class:`Settings`.

    Raises:
        ConfigError: listing every problem found, in one message.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    raw: dict[str, tuple[Any, str, Path]] = {}  # key -> (value, source, base dir)

    defaults = _load_yaml(default_profile_text(), "packaged defaults", problems)
    for key, value in _flatten(defaults, "packaged defaults", problems).items():
        raw[key] = (value, "default", Path.cwd())

    path = find_profile(profile, env)
    if path is not None:
        text = _read_profile(path)
        doc = _load_yaml(text, str(path), problems)
        base = path.resolve().parent
        for key, value in _flatten(doc, str(path), problems).items():
            raw[key] = (value, f"profile {path}", base)

    for var, key in ENV_VARS.items():
        if env.get(var):
            raw[key] = (_env_value(key, env[var]), f"env {var}", Path.cwd())

    for key, value in (flags or {}).items():
        if value is not None:
            if key not in SCHEMA:
                raise KeyError(f"flag mapped to unknown config key {key!r}")  # a bug, not user error
            raw[key] = (value, "flag", Path.cwd())

    values, sources = _check(raw, problems)
    if problems:
        raise ConfigError(
            "; ".join(problems),
            hint="see `bit profile init` for every key with its type",
        )
    return Settings(values=values, sources=sources, profile=path)


def _read_profile(path: Path) -> str:
    if not path.exists():
        raise ConfigError(f"profile {path} does not exist", hint="write one with `bit profile init`")
    if path.is_dir():
        raise ConfigError(f"profile {path} is a folder, not a YAML file")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read profile {path}: {exc}") from None


def _load_yaml(text: str, where: str, problems: list[str]) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}{line}: invalid YAML ({reason})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: a profile must be a mapping of keys, got {type(doc).__name__}")
    return doc


def _flatten(doc: dict[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for top, value in doc.items():
        top = str(top)
        if top in SCHEMA:
            flat[top] = value
        elif top in SECTIONS:
            if not isinstance(value, dict):
                problems.append(f"{where}: '{top}' must be a mapping (e.g. {top}: {{...}})")
                continue
            for sub, leaf in value.items():
                key = f"{top}.{sub}"
                if key in SCHEMA:
                    flat[key] = leaf
                else:
                    problems.append(f"{where}: unknown key '{key}'{_suggest(key)}")
        else:
            problems.append(f"{where}: unknown key '{top}'{_suggest(top)}")
    return flat


def _suggest(key: str) -> str:
    candidates = list(SCHEMA) + SECTIONS + [k.split(".")[-1] for k in SCHEMA]
    match = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not match and "." in key:
        match = difflib.get_close_matches(key.split(".")[-1], candidates, n=1, cutoff=0.6)
    if not match:
        return ""
    best = match[0]
    full = next((k for k in SCHEMA if k == best or k.endswith("." + best)), best)
    return f" (did you mean '{full}'?)"


def _env_value(key: str, text: str) -> Any:
    if key == "ascend.devices":
        try:
            return [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            return text  # reported as a type problem with its source
    return text


def _check(raw: dict[str, tuple[Any, str, Path]], problems: list[str]):
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, (type_name, check, is_path) in SCHEMA.items():
        if key not in raw:
            problems.append(f"packaged defaults lack '{key}'")
            continue
        value, source, base = raw[key]
        try:
            clean = check(value)
        except (ValueError, TypeError) as exc:
            detail = f" ({exc})" if str(exc) else ""
            problems.append(f"{source}: '{key}' must be {type_name}, got {value!r}{detail}")
            continue
        if is_path and not (key == "model.weights" and clean == "random"):
            clean = str(_resolve_path(clean, base))
        values[key] = clean
        sources[key] = source
    return values, sources


def _resolve_path(text: str, base: Path) -> Path:
    path = Path(os.path.expanduser(text))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))  # show "../x" as a plain path


# --------------------------------------------------------------------------- batch sizes


def batch_size_problems(items: list[str]) -> list[str]:
    """Every problem with a list of batch-size strings (empty list when fine)."""
    problems: list[str] = []
    seen: set[int] = set()
    for item in items:
        text = item.strip()
        try:
            value = int(text)
        except ValueError:
            problems.append(f"'{text}' is not an integer")
            continue
        if value <= 0:
            problems.append(f"'{text}' is not a positive batch size")
        elif value > MAX_BATCH:
            problems.append(f"{value} is above ais_bench's largest batch size, {MAX_BATCH}")
        elif value in seen:
            problems.append(f"{value} is listed twice")
        seen.add(value)
    return problems
