"""ais_bench stdout parsing and failure explanations on literal lines (reference/ascend-tools.md §2.6, §2.8).

Pure-function tests, fast enough for mutmut's per-mutant runs (the stand-in runs cover the same
code end to end in tests/ascend).
"""

from __future__ import annotations

import os
from pathlib import Path

from bitcli.ascend.ais_output import ais_failure, explain, parse_run_output
from bitcli.ascend.ais_paths import illegal_path
from bitcli.ascend.flavours import TOOLS_2023, TOOLS_2025
from bitcli.tools import ToolResult

# The real pair quoted in §2.6 (ait 2024, resnet50 bs64).
REAL_COMPUTE = ("[INFO] NPU_compute_time (ms): min = 13.384765625, max = 13.640625, mean = 13.476432624680307, "
                "median = 13.4765625, percentile(99%) = 13.55142578125")
REAL_THROUGHPUT = "[INFO] throughput 1000*batchsize.mean(64)/NPU_compute_time.mean(13.476432624680307): 4749.03127425521"


def test_the_real_performance_summary_pair():
    out = parse_run_output("\n".join([
        "[INFO] acl init success", "-----------------Performance Summary------------------",
        REAL_COMPUTE, REAL_THROUGHPUT, "-" * 54, "[INFO] end to finalize acl"]))
    assert out.throughput == 4749.03127425521
    assert out.batchsize == "64"
    assert out.npu_compute_time == {"min": 13.384765625, "max": 13.640625, "mean": 13.476432624680307,
                                    "median": 13.4765625, "percentile(99%)": 13.55142578125}
    assert out.summary_throughput is None and out.device_throughputs == {} and out.errors == []


def test_tools_2022_11_throughput_line_and_pipeline_compute_line():
    out = parse_run_output("throughput 1000*batchsize(16)/NPU_compute_time.mean(9.1): 1758.0\n"
                           "NPU_compute_time (ms): mean = -1.5e-3")
    assert (out.batchsize, out.throughput) == ("16", 1758.0)
    assert out.npu_compute_time == {"mean": -0.0015}


def test_the_last_summary_wins_and_a_carriage_return_bar_is_dropped():
    text = ("[INFO] throughput 1000*batchsize.mean(8)/NPU_compute_time.mean(4.0): 2000.0\n"
            "Inference array Processing: 100%|#####| 5/5\r[INFO] throughput "
            "1000*batchsize.mean(4.0)/NPU_compute_time.mean(2.0): 2000.0;\n")
    out = parse_run_output(text)
    assert (out.batchsize, out.throughput) == ("4.0", 2000.0)


def test_a_throughput_that_is_not_a_finite_number_counts_as_not_printed():
    for figure in ("nan", "inf", "-inf", "n/a"):
        out = parse_run_output(f"throughput 1000*batchsize.mean(8)/NPU_compute_time.mean(4.0): {figure}")
        assert out.throughput is None, figure
        assert out.batchsize == "8"


def test_compute_time_nan_is_kept_as_nan_for_the_caller_to_refuse():
    out = parse_run_output("NPU_compute_time (ms): min = nan, max = inf")
    assert list(out.npu_compute_time) == ["min", "max"]
    assert out.npu_compute_time["max"] == float("inf")
    assert out.npu_compute_time["min"] != out.npu_compute_time["min"]


def test_multi_device_tail():
    # ait 2024: a run of spaces before start_time (§2.6); tools 2023 prints without [INFO]
    out = parse_run_output("[INFO] multidevice:2 run begin\n"
                           "[INFO] i:0 device_1 throughput:100.5          start_time:1.0 end_time:2.0\n"
                           "i:1 device_3 throughput: 200.25 start_time:1.0 end_time:2.0\n"
                           "i:2 device_4 throughput:nan start_time:1.0 end_time:2.0\n"
                           "[INFO] multidevice run end qsize:2 result:1\n"
                           "[INFO] summary throughput:300.75")
    assert out.device_throughputs == {1: 100.5, 3: 200.25}
    assert out.summary_throughput == 300.75
    assert out.throughput is None


def test_error_lines_are_collected_without_their_prefix():
    out = parse_run_output("[ERROR] first problem\n  [ERROR]   second problem  \n[INFO] not an [ERROR] line\n")
    assert out.errors == ["first problem", "second problem"]


def test_sizes_rule():
    what, hint = explain("[ERROR] tensorsize: 1572864 filesize: 196608 not match", 16)
    assert what == ("input files are 196608 bytes each but the bs16 model takes 1572864 bytes per batch, "
                    "not a whole number of files (ais_bench: tensorsize/filesize not match)")
    assert hint == ("keep one sample per .bin file (what `bit data` writes) at the image size the model was "
                    "exported for (model.image_size); re-run `bit data` or rebuild the model")
    assert explain("[ERROR] save out files error", 8) == (
        "ais_bench could not split the output back into per-file results (files are not one sample each)",
        "keep one sample per .bin file (`bit data`)")


def test_folder_rules():
    assert explain("[ERROR] not find valid file in /data/in", 8) == (
        "the input folder holds no .bin/.npy files (ais_bench: invalid input folder)",
        "run `bit data` to write one .bin per sample, or point --input at such a folder")
    assert explain("[ERROR] input path:/data/missing is not a valid dir", 8) == (
        "input folder /data/missing does not exist (ais_bench: invalid input folder)",
        "run `bit data` first, or pass an existing --input folder")


def test_illegal_path_rule_takes_the_exception_text_not_the_template(tmp_path):
    bad = str(tmp_path / "a b.bin")
    output = ("    raise RuntimeError(f'input data:{f_true_path} is illegal')\n"
              f"RuntimeError: input data:{bad} is illegal\n")
    assert explain(output, 8) == illegal_path(bad)
    assert explain(output, 8)[0].startswith(f"ais_bench refuses the path {bad}:")


def test_illegal_output_path_is_judged_with_the_output_mode_rule(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    os.chmod(folder, 0o775)
    as_output = explain(f"RuntimeError: output path:{folder} is illegal", 8, TOOLS_2025)
    assert as_output == (f"ais_bench (tools 2025) refuses the output folder {folder}: mode 775 has bits beyond 750",
                         f"chmod 750 {folder}")
    as_input = explain(f"RuntimeError: input path:{folder} is illegal", 8, TOOLS_2025)
    assert as_input[0] == f"ais_bench refuses {folder} because it is writable by group or others (mode 775)"


def test_device_rule():
    assert explain("[ERROR] acl open device 3 failed", 8) == (
        "ais_bench could not open NPU device 3",
        "check the logical device ids with `npu-smi info` and set ascend.devices; check the driver")
    assert explain("aclrtSetDevice failed, ret 507033", 8)[0] == "ais_bench could not open NPU device ?"


def test_environment_rule():
    expected = ("ais_bench cannot load CANN (libascendcl.so) or is not installed for this Python",
                "source /usr/local/Ascend/ascend-toolkit/set_env.sh (or set ascend.set_env) and install the "
                "aclruntime and ais_bench wheels")
    for line in ("ImportError: libascendcl.so: cannot open shared object file",
                 "ModuleNotFoundError: No module named 'aclruntime'",
                 "/usr/bin/python3: No module named ais_bench"):
        assert explain(line, 8) == expected, line
    assert explain("libascendclXso", 8) == (None, None)


def test_argparse_rule_names_the_release_and_the_last_error():
    output = ("usage: __main__.py [-h] --model MODEL\n"
              "__main__.py: error: argument --loop: invalid int value: 'x'\n"
              "__main__.py: error: unrecognized arguments: --divide_input 1  \n")
    assert explain(output, 8, TOOLS_2023) == (
        "ais_bench (tools 2023) rejected its arguments: unrecognized arguments: --divide_input 1",
        "check the installed ais_bench release with `bit doctor` (bit adapts its flags to it)")
    assert explain(output, 8)[0] == "ais_bench rejected its arguments: unrecognized arguments: --divide_input 1"


def test_model_rule():
    assert explain("[WARNING] dynamic batch om model detected", 8) == (
        "the .om has a dynamic batch but ais_bench was not told which batch to use",
        "rebuild a static .om with `bit atc --force` (bit builds one .om per batch size)")


def test_rules_are_tried_in_order_and_unknown_output_has_no_explanation():
    both = "tensorsize: 10 filesize: 5 not match\nacl open device 0 failed"
    assert explain(both, 2)[0].startswith("input files are 5 bytes each but the bs2 model takes 10 bytes")
    assert explain("[ERROR] something new", 8) == (None, None)


ARGV = ["python3", "-m", "ais_bench", "--model", "m.om"]


def test_failure_with_an_explanation_keeps_the_command_in_the_hint():
    err = ais_failure(ToolResult(ARGV, 1, "[ERROR] acl open device 2 failed\n", log_path=Path("/w/ais.log")), bs=8)
    assert err.message == "ais_bench could not open NPU device 2"
    assert err.hint == ("check the logical device ids with `npu-smi info` and set ascend.devices; check the driver"
                        "; command: python3 -m ais_bench --model m.om; log: /w/ais.log")


def test_unknown_failure_shows_the_last_error_line():
    err = ais_failure(ToolResult(ARGV, 1, "[ERROR] first\n[ERROR] last one\nTraceback (most recent call last):\n"), bs=8)
    assert err.message == "ais_bench failed (exit 1): last one"
    assert err.hint == "see the log for the full output; command: python3 -m ais_bench --model m.om"


def test_unknown_failure_without_error_lines_shows_the_tail():
    err = ais_failure(ToolResult(ARGV, 139, "a\nb\nc\nd\n"), bs=8)
    assert err.message == "ais_bench failed (exit 139): b | c | d"
    assert ais_failure(ToolResult(ARGV, 1, ""), bs=8).message == "ais_bench failed (exit 1): no output"


def test_exit_zero_without_a_throughput_is_a_failure_not_a_zero():
    err = ais_failure(ToolResult(ARGV, 0, "[INFO] done\n"), bs=8, no_throughput=True)
    assert err.message == "ais_bench exited 0 but printed no throughput line (a failed run, not a zero)"
    assert err.hint == ("run the command below by hand and check its Performance Summary"
                        "; command: python3 -m ais_bench --model m.om")


def test_a_garbled_figure_is_not_a_number():
    out = parse_run_output("throughput 1000*batchsize.mean(8)/NPU_compute_time.mean(4.0): 100X")
    assert out.throughput is None


def test_only_the_text_after_the_last_carriage_return_is_a_line():
    out = parse_run_output("progress 50%\rprogress 100%\r[ERROR] load model failed\n")
    assert out.errors == ["load model failed"]


def test_failure_explanations_get_the_batch_size_and_the_release():
    sizes = ais_failure(ToolResult(ARGV, 1, "tensorsize: 1572864 filesize: 196608 not match"), bs=16)
    assert sizes.message.startswith("input files are 196608 bytes each but the bs16 model takes 1572864 bytes")
    args = ais_failure(ToolResult(ARGV, 2, "__main__.py: error: unrecognized arguments: --x"), bs=8,
                       flavour=TOOLS_2023)
    assert args.message == "ais_bench (tools 2023) rejected its arguments: unrecognized arguments: --x"


def test_the_last_of_several_error_lines_is_shown():
    err = ais_failure(ToolResult(ARGV, 1, "[ERROR] one\n[ERROR] two\n[ERROR] three\n"), bs=8)
    assert err.message == "ais_bench failed (exit 1): three"
    output = "__main__.py: error: a\n__main__.py: error: b\n__main__.py: error: c\n"
    assert explain(output, 8)[0] == "ais_bench rejected its arguments: c"
