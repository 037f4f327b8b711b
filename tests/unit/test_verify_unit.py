"""bitcli.verify on small arrays whose figures are worked out by hand (fast: the mutmut selection)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bitcli.verify import SHOWN, Comparison, compare, nonfinite

NAN, INF = float("nan"), float("inf")


def test_nonfinite_counts_nan_and_both_infinities_in_c_order():
    count, first = nonfinite(np.array([[1.0, NAN, 2.0], [INF, 3.0, -INF]]))
    assert count == 3
    assert first == [(0, 1), (1, 0), (1, 2)]


def test_nonfinite_names_only_the_first_shown_positions():
    assert SHOWN == 3
    count, first = nonfinite([NAN, 1.0, NAN, NAN, INF])
    assert (count, first) == (4, [(0,), (2,), (3,)])
    assert nonfinite([NAN, 1.0, NAN], shown=1) == (2, [(0,)])


def test_nonfinite_of_a_finite_array_is_zero_and_no_positions():
    assert nonfinite(np.ones((2, 2))) == (0, [])


def test_compare_finite_outputs_figures_by_hand():
    # |Δ| = 0.5, 0, 0 / 0, 0, 1  -> max 1.0, mean 1.5 / 6 = 0.25
    # argmax row 0: 2 vs 2 (agree); row 1: 2 vs 1 (first of the tie 5, 5) -> 1 of 2 rows
    ref = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    got = [[1.5, 2.0, 3.0], [4.0, 5.0, 5.0]]
    c = compare(ref, got, atol=1.0)
    assert c.max_abs_diff == 1.0
    assert c.mean_abs_diff == 0.25
    assert c.top1_agree == 0.5
    assert c.atol == 1.0
    assert (c.nonfinite_ref, c.nonfinite_test, c.first_ref, c.first_test) == (0, 0, [], [])
    assert c.shape_mismatch is None
    assert c.passed  # max |Δ| == atol passes
    assert c.problem() == ""


def test_compare_over_tolerance_says_by_how_much():
    c = compare([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[1.5, 2.0, 3.0], [4.0, 5.0, 5.0]], atol=0.99)
    assert not c.passed
    assert c.problem() == "max |Δ| 1 > 0.99 (top-1 agreement 50%)"


def test_problem_rounds_the_difference_to_three_figures():
    c = compare([0.0, 1.0], [0.123456, 1.0], atol=1e-4)
    assert c.problem() == "max |Δ| 0.123 > 0.0001 (top-1 agreement 100%)"  # argmax 1 on both


def test_nan_in_the_test_output_fails_whatever_the_tolerance():
    # finite on both sides: (0,0) 0, (1,0) 0, (1,1) 0.5 -> max 0.5, mean 0.5 / 3
    # row 0 has the NaN (never agrees), row 1 argmax 1 vs 1 -> 0.5
    c = compare([[1.0, 2.0], [3.0, 4.0]], [[1.0, NAN], [3.0, 4.5]], atol=10.0)
    assert c.max_abs_diff == 0.5
    assert math.isclose(c.mean_abs_diff, 0.5 / 3)
    assert c.top1_agree == 0.5
    assert (c.nonfinite_ref, c.nonfinite_test, c.first_ref, c.first_test) == (0, 1, [], [(0, 1)])
    assert not c.passed
    assert c.problem("torch", "onnxruntime") == (
        "onnxruntime output has 1 non-finite value(s) (NaN/inf), first at [0, 1]")
    assert c.problem() == "test output has 1 non-finite value(s) (NaN/inf), first at [0, 1]"


def test_inf_in_the_reference_fails_and_is_named_with_the_reference_name():
    c = compare([[INF, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], atol=10.0)
    assert (c.nonfinite_ref, c.nonfinite_test, c.first_ref) == (1, 0, [(0, 0)])
    assert not c.passed
    assert c.problem("dynamic", "simplified") == (
        "dynamic output has 1 non-finite value(s) (NaN/inf), first at [0, 0]")
    assert c.problem() == "reference output has 1 non-finite value(s) (NaN/inf), first at [0, 0]"
    assert c.top1_agree == 0.5  # only row 0 holds the inf; row 1 argmax 1 vs 1 still agrees


def test_non_finite_on_both_sides_lists_both_and_every_shown_position():
    c = compare([NAN, NAN, 1.0], [1.0, INF, -INF], atol=1.0)
    assert c.max_abs_diff is None and c.mean_abs_diff is None  # no position finite on both sides
    assert c.top1_agree == 0.0
    assert c.problem("a", "b") == ("a output has 2 non-finite value(s) (NaN/inf), first at [0], [1]; "
                                   "b output has 2 non-finite value(s) (NaN/inf), first at [1], [2]")
    assert not c.passed


def test_shape_mismatch_fails_with_both_shapes():
    c = compare([[0.0, 0.0, INF], [0.0, 0.0, 0.0]], [[NAN, 0.0], [0.0, 0.0]], atol=1.0)
    assert c.shape_mismatch == ((2, 3), (2, 2))
    assert (c.max_abs_diff, c.mean_abs_diff, c.top1_agree) == (None, None, 0.0)
    assert (c.nonfinite_ref, c.first_ref, c.nonfinite_test, c.first_test) == (1, [(0, 2)], 1, [(0, 0)])
    assert c.atol == 1.0
    assert not c.passed
    assert c.problem("torch", "ort") == "torch output shape (2, 3) differs from ort output shape (2, 2)"


def test_integer_outputs_are_compared_without_wrap_around():
    # uint8 0 - 255 wraps to 1 in uint8; the true |Δ| is 255
    c = compare(np.array([0, 9], dtype=np.uint8), np.array([255, 9], dtype=np.uint8), atol=1.0)
    assert c.max_abs_diff == 255.0
    assert c.mean_abs_diff == 127.5


def test_one_dimensional_output_is_one_row():
    assert compare([1.0, 3.0, 2.0], [1.0, 2.0, 3.0], atol=5.0).top1_agree == 0.0
    assert compare([1.0, 3.0, 2.0], [0.0, 3.0, 1.0], atol=5.0).top1_agree == 1.0


def test_three_dimensional_output_rows_are_all_but_the_last_axis():
    ref = np.zeros((2, 2, 3))
    ref[:, :, 0] = 1.0  # argmax 0 everywhere
    got = ref.copy()
    got[1, 1] = [0.0, 0.0, 1.0]  # one of 4 rows disagrees
    assert compare(ref, got, atol=1.0).top1_agree == 0.75


def test_scalar_and_empty_outputs_have_no_agreeing_rows():
    c = compare(5.0, 5.0, atol=0.0)
    assert (c.max_abs_diff, c.top1_agree, c.passed) == (0.0, 0.0, True)
    empty = compare(np.zeros((0, 3)), np.zeros((0, 3)), atol=1.0)
    assert (empty.max_abs_diff, empty.top1_agree, empty.passed) == (None, 0.0, False)


def test_passed_needs_every_condition():
    assert Comparison(0.0, 0.0, 1.0, 0.1).passed
    assert not Comparison(None, None, 1.0, 0.1).passed
    assert not Comparison(0.2, 0.2, 1.0, 0.1).passed
    assert not Comparison(0.0, 0.0, 1.0, 0.1, nonfinite_ref=1).passed
    assert not Comparison(0.0, 0.0, 1.0, 0.1, nonfinite_test=1).passed
    assert not Comparison(0.0, 0.0, 1.0, 0.1, shape_mismatch=((1,), (2,))).passed


def test_problem_is_empty_without_a_difference_figure():
    assert Comparison(None, None, 0.0, 0.1).problem() == ""


def test_to_json_records_the_figures():
    c = Comparison(0.5, 0.25, 0.75, 1.0, 2, 3, [(0,)], [(1,)])
    assert c.to_json() == {"max_abs_diff": 0.5, "mean_abs_diff": 0.25, "top1_agree": 0.75,
                           "nonfinite_ref": 2, "nonfinite_test": 3}
    defaults = Comparison(1.0, 1.0, 1.0, 1.0)
    assert (defaults.nonfinite_ref, defaults.nonfinite_test, defaults.first_ref, defaults.first_test,
            defaults.shape_mismatch) == (0, 0, [], [], None)


@pytest.mark.parametrize("bad", [NAN, INF])
def test_non_finite_scalar_output_fails(bad):
    c = compare(1.0, bad, atol=100.0)
    assert c.nonfinite_test == 1 and c.first_test == [()] and not c.passed
