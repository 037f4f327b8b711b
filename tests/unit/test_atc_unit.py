"""ATC's command line, success verdict and E-code parsing on literal console lines (reference §3.3, §8.8)."""

from __future__ import annotations

from pathlib import Path

from bitcli.ascend.atc import (E10001_HINT, HINTS, LIBS_HINT, atc_argv, atc_failure, atc_succeeded,
                               error_codes)
from bitcli.tools import ToolResult

SUCCESS = "ATC start working now, please wait for a moment.\n....\nATC run success, welcome to the next use.\n"
FAILED = "ATC run failed, Please check the detail log, Try 'atc --help' for more information\n"
E10001 = ("E10001: Value [-1] for parameter [image] is invalid. "
          "Reason: maybe you should set input_shape to specify its shape.")
ARGV = ["atc", "--framework=5"]


def test_atc_argv_is_the_seed_command_line(tmp_path):
    d = tmp_path.resolve()
    assert atc_argv(tmp_path, 16, "Ascend310P3") == [
        "atc", "--framework=5", f"--model={d}/bit_bs16_sim.onnx", "--input_format=NCHW",
        "--input_shape=image:16,3,128,128", f"--output={d}/bit_bs16", "--log=error", "--soc_version=Ascend310P3"]
    argv = atc_argv(tmp_path, 1, "Ascend910B4", image_size=224, precision_mode="allow_fp32_to_fp16", atc="/x/atc")
    assert argv[0] == "/x/atc"
    assert argv[4] == "--input_shape=image:1,3,224,224"
    assert argv[-1] == "--precision_mode=allow_fp32_to_fp16"
    assert len(argv) == 9


def test_success_needs_exit_zero_the_verdict_and_the_file(tmp_path):
    om = tmp_path / "bit_bs16.om"
    om.write_bytes(b"om")
    assert atc_succeeded(ToolResult(ARGV, 0, SUCCESS), om)
    assert not atc_succeeded(ToolResult(ARGV, 255, SUCCESS), om)
    assert not atc_succeeded(ToolResult(ARGV, 0, "ATC start working now, please wait for a moment.\n"), om)
    assert not atc_succeeded(ToolResult(ARGV, 0, SUCCESS), tmp_path / "missing.om")


def test_error_codes_from_the_documented_lines():
    output = "\n".join([
        "ATC start working now, please wait for a moment.", FAILED.strip(), E10001,
        "E10007: [--framework] is required. The value must be [0(Caffe) or 1(MindSpore) or 3(TensorFlow) or 5(Onnx)].",
        "EZ3003: No supported Ops kernel and engine are found for [Conv_1]",
        "EC0010: Failed to import Python module [decorator]",
        "W11001: Op [Slice_29] does not hit the high-priority operator information library",
        E10001,  # repeated: listed once
    ])
    assert error_codes(output) == [
        ("E10001", "Value [-1] for parameter [image] is invalid. Reason: maybe you should set input_shape to "
                   "specify its shape."),
        ("E10007", "[--framework] is required. The value must be [0(Caffe) or 1(MindSpore) or 3(TensorFlow) or "
                   "5(Onnx)]."),
        ("EZ3003", "No supported Ops kernel and engine are found for [Conv_1]"),
        ("EC0010", "Failed to import Python module [decorator]"),
    ]


def test_newer_cann_stamps_no_colon_codes_and_unknown_flags():
    output = ("  E10016: [PID: 4242] 2025-03-01-10:20:30.123.456 Op name image2 specified in --input_shape is not "
              "found in the model\n"
              "EZ9999  Inner Error!\n"
              "[ERROR] E19010:No parser is registered for Op [Gelu]\n"
              "ERROR: unknown command line flag 'soc'\n"
              "xE10054: not a code line\n"
              "E10010:\n")
    assert error_codes(output) == [
        ("E10016", "Op name image2 specified in --input_shape is not found in the model"),
        ("EZ9999", "Inner Error!"),
        ("E19010", "No parser is registered for Op [Gelu]"),
        ("", "unknown command line flag 'soc'"),
        ("E10010", ""),
    ]


def test_pid_stamp_without_a_timestamp():
    assert error_codes("E10054: [PID:7] The requied parameter [--model] for ATC is empty.") == [
        ("E10054", "The requied parameter [--model] for ATC is empty.")]


def _fail(output, rc=255, log=None, om=Path("/m/bit_bs16.om"), set_env=None):
    return atc_failure(ToolResult(ARGV, rc, output, log_path=log), om, set_env)


def test_failure_names_every_code_and_the_first_known_hint():
    err = _fail(FAILED + "E19999: Inner error\nE10016: Op name x specified in --input_shape is not found\n"
                "ERROR: unknown command line flag 'foo'\n", log=Path("/l/atc.log"))
    assert err.message == ("ATC failed (exit 255): E19999: Inner error | E10016: Op name x specified in "
                           "--input_shape is not found | unknown command line flag 'foo'; command: atc --framework=5; "
                           "full log: /l/atc.log")
    assert err.hint == HINTS["E10016"]  # E19999 has no hint of its own: the next code's is given


def test_hints_per_code():
    assert _fail(E10001).hint == HINTS["E10016"]  # the input_shape case of E10001
    assert _fail("E10001: Value [x] for parameter [--precision_mode] is invalid.").hint == E10001_HINT
    assert _fail("ERROR: unknown command line flag 'soc'").hint == (
        "atc does not know this flag: check the CANN version (`bit doctor`); bit passes only documented flags")
    assert _fail("E19999: Inner error").hint == "see the ATC log under $HOME/ascend/log"
    assert _fail("EC0010: Failed to import Python module [sympy]").hint == HINTS["EC0010"]
    assert HINTS["EC0010"].startswith("ATC's Python dependencies are missing")


def test_missing_shared_libraries():
    line = "/usr/local/Ascend/atc/bin/atc.bin: error while loading shared libraries: libascend_hal.so: cannot open"
    err = _fail(line, rc=127)
    assert err.message == "atc cannot load libascend_hal.so (exit 127); command: atc --framework=5"
    assert err.hint == LIBS_HINT.format(set_env="/usr/local/Ascend/ascend-toolkit/set_env.sh")
    assert "source /usr/local/Ascend/ascend-toolkit/set_env.sh (bit does" in err.hint
    assert "source /opt/cann/set_env.sh (" in _fail(line, set_env="/opt/cann/set_env.sh").hint
    bare = _fail("error while loading shared libraries", rc=127)
    assert bare.message.startswith("atc cannot load its shared libraries (exit 127)")


def test_success_line_with_a_non_zero_exit_is_not_trusted():
    err = _fail(SUCCESS, rc=1)
    assert err.message == ("ATC printed 'ATC run success' but exited 1, so bit_bs16.om is not trusted; "
                           "command: atc --framework=5")
    assert err.hint == ("rerun with `bit atc --force`; if it repeats, check free memory and the ATC log under "
                        "$HOME/ascend/log")


def test_success_without_the_file():
    err = _fail(SUCCESS, rc=0)
    assert err.message == "ATC reported success but /m/bit_bs16.om was not written; command: atc --framework=5"
    assert err.hint == "check free disk space and write permission in the model folder"


def test_failure_without_a_code_shows_the_tail():
    err = _fail("a\nb\nc\nd\ne\nf\ng\n", rc=1)
    assert err.message == "ATC failed (exit 1) without an error code: b | c | d | e | f | g; command: atc --framework=5"
    assert err.hint == "rerun the command below by hand after sourcing set_env.sh"
    assert _fail("", rc=1).message.startswith("ATC failed (exit 1) without an error code: no output;")


def test_exit_zero_without_the_verdict_is_a_failure_without_a_code():
    err = _fail("ATC start working now, please wait for a moment.\n", rc=0)
    assert err.message == ("ATC failed (exit 0) without an error code: ATC start working now, please wait for a "
                           "moment.; command: atc --framework=5")
