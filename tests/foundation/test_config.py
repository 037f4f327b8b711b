"""Profile resolution: precedence, relative paths, validation that reports everything at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitcli.config import batch_size_problems, resolve_config
from bitcli.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_match_the_documented_profile():
    s = resolve_config(env={})
    assert s["model.arch"] == "BiT-M-R50x1"
    assert s["model.image_size"] == 128 and s["model.opset"] == 13
    assert s.batch_sizes == (1, 4, 8, 16, 32, 64)
    assert s["bench.loop"] == 50 and s["bench.warmup"] == 5
    assert s["backend"] == "auto" and s["ascend.devices"] == (0,)
    assert s.sources["workdir"] == "default"
    assert s.profile is None


def test_precedence_defaults_profile_env_flags(tmp_path):
    prof = write(tmp_path / "p.yaml", "workdir: from_profile\nbackend: torch\nascend: {chip: 310P3}\n")
    s = resolve_config(prof, env={})
    assert s.workdir == tmp_path / "from_profile"
    assert s.sources["workdir"] == f"profile {prof}"
    s = resolve_config(prof, env={"BIT_WORKDIR": "from_env", "BIT_BACKEND": "onnxruntime"})
    assert s.workdir == Path.cwd() / "from_env" and s.sources["workdir"] == "env BIT_WORKDIR"
    assert s["backend"] == "onnxruntime"
    assert s["ascend.chip"] == "310P3"  # profile value survives where env is silent
    s = resolve_config(prof, {"workdir": "from_flag", "backend": None}, env={"BIT_WORKDIR": "from_env"})
    assert s.workdir == Path.cwd() / "from_flag" and s.sources["workdir"] == "flag"
    assert s.sources["backend"] == "profile " + str(prof)  # None means "flag not given"


def test_relative_paths_are_relative_to_the_profile_folder(tmp_path):
    sub = tmp_path / "cfg"
    sub.mkdir()
    prof = write(sub / "bit.yaml", "dataset: {path: ../data}\nmodel: {weights: w/bit.pth}\n")
    s = resolve_config(prof, env={})
    assert Path(s["dataset.path"]) == tmp_path / "data"
    assert Path(s["model.weights"]) == sub / "w/bit.pth"


def test_random_weights_is_not_a_path(tmp_path):
    prof = write(tmp_path / "p.yaml", "model: {weights: random}\n")
    assert resolve_config(prof, env={})["model.weights"] == "random"


def test_bit_profile_env_and_local_bit_yaml(tmp_path, monkeypatch):
    write(tmp_path / "bit.yaml", "backend: torch\n")
    assert resolve_config(env={})["backend"] == "torch"  # ./bit.yaml (cwd is tmp_path)
    other = write(tmp_path / "other.yaml", "backend: onnxruntime\n")
    assert resolve_config(env={"BIT_PROFILE": str(other)})["backend"] == "onnxruntime"


def test_devices_from_env():
    assert resolve_config(env={"BIT_DEVICES": "0,1"})["ascend.devices"] == (0, 1)


def test_unknown_keys_suggest_the_nearest_and_all_problems_are_listed(tmp_path):
    prof = write(tmp_path / "p.yaml", "wokdir: x\nmodel: {archh: R50, opset: thirteen}\nbackend: acl\nbatch_sizes: [1, 0, 1]\n")
    with pytest.raises(ConfigError) as info:
        resolve_config(prof, env={})
    msg = str(info.value)
    assert "unknown key 'wokdir'" in msg and "did you mean 'workdir'" in msg
    assert "unknown key 'model.archh'" in msg and "'model.arch'" in msg
    assert "'model.opset' must be int" in msg and str(prof) in msg
    assert "'backend' must be one of auto|ascend|onnxruntime|openvino|torch" in msg
    assert "'0' is not a positive batch size" in msg and "1 is listed twice" in msg


def test_invalid_yaml_names_file_and_line(tmp_path):
    prof = write(tmp_path / "p.yaml", "workdir: x\nmodel: {arch: [\n")
    with pytest.raises(ConfigError, match=r"p.yaml line \d+: invalid YAML"):
        resolve_config(prof, env={})


def test_profile_that_is_not_a_mapping(tmp_path):
    prof = write(tmp_path / "p.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        resolve_config(prof, env={})


def test_missing_profile_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(tmp_path / "nope.yaml", env={})


def test_bad_env_value_names_the_variable():
    with pytest.raises(ConfigError, match="env BIT_BACKEND: 'backend' must be one of"):
        resolve_config(env={"BIT_BACKEND": "cuda"})
    with pytest.raises(ConfigError, match="env BIT_DEVICES"):
        resolve_config(env={"BIT_DEVICES": "zero"})


@pytest.mark.parametrize(
    "text, expected",
    [("1,4,8", (1, 4, 8)), ("16", (16,)), (" 2, 3 ", (2, 3))],
)
def test_good_batch_sizes_have_no_problems(text, expected):
    assert batch_size_problems(text.split(",")) == []
    assert resolve_config(flags={"batch_sizes": [int(x) for x in text.split(",")]}).batch_sizes == expected


@pytest.mark.parametrize(
    "text, fragment",
    [("0", "'0' is not a positive"), ("-4", "'-4' is not a positive"), ("1,x", "'x' is not an integer"),
     ("1.5", "'1.5' is not an integer"), ("4,8,4", "4 is listed twice")],
)
def test_batch_size_problems_name_each_bad_item(text, fragment):
    assert any(fragment in p for p in batch_size_problems(text.split(",")))


@pytest.mark.parametrize("name", ["bit.yaml", "demo.yaml"])
def test_example_profiles_are_valid(name):
    from bit_testlib import REPO

    path = REPO / "examples" / name
    s = resolve_config(path, env={})
    assert s.profile == path and all(src in ("default", f"profile {path}") for src in s.sources.values())
    assert s.workdir.parent == REPO  # relative to the profile's folder


def test_choice_values_suggest_the_nearest():
    with pytest.raises(ConfigError, match=r"'backend' must be one of .*got 'onnxrt' \(did you mean 'onnxruntime'\?\)"):
        resolve_config(None, {"backend": "onnxrt"}, env={})
