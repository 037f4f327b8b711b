"""bitcli.logit_metrics against figures worked out by hand (in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bitcli.logit_metrics import compare_logits

# 3 samples, 6 classes. ref rows are chosen so every figure is easy by hand.
REF = np.array([
    [3.0, 0.0, 0.0, 0.0, 0.0, 4.0],   # |r| = 5, top-1 = 5
    [1.0, 2.0, 0.0, 0.0, 0.0, 0.0],   # top-1 = 1
    [0.0, 0.0, 6.0, 0.0, 0.0, 0.0],   # top-1 = 2
])
TEST = REF.copy()
TEST[0] = [4.0, 0.0, 0.0, 0.0, 0.0, 3.0]  # cos = (12 + 12) / 25 = 0.96; top-1 0 ≠ 5; diff (1,...,-1)
TEST[2, 2] = 3.0                           # cos = 1; diff -3 at one place


def test_figures_match_the_hand_computation():
    m = compare_logits(REF, TEST, labels=np.array([5, 1, 0]), worst=2)
    assert m.samples == 3
    assert m.max_abs == pytest.approx(3.0)
    assert m.mean_abs == pytest.approx((1 + 1 + 3) / 18)
    # signal = 25 + 5 + 36 = 66, noise = 1 + 1 + 9 = 11
    assert m.sqnr_db == pytest.approx(10 * math.log10(66 / 11))
    assert m.rel_err == pytest.approx(math.sqrt(11 / 66))
    assert m.cosine == pytest.approx((0.96 + 1 + 1) / 3)
    assert m.min_cosine == pytest.approx(0.96)
    assert m.agreement == pytest.approx(2 / 3)
    assert m.worst[0] == (0, pytest.approx(0.96))
    # labels 5, 1, 0: ref gets rows 0 and 1 right (2/3); test only row 1 (1/3)
    assert m.top1_ref == pytest.approx(2 / 3) and m.top1_test == pytest.approx(1 / 3)
    assert m.delta_top1 == pytest.approx(-1 / 3)
    # label 0 of row 2 is in both top-5s (zeros tie; stable order puts class 0 first among them)
    assert m.top5_ref == pytest.approx(1.0) and m.top5_test == pytest.approx(1.0)


def test_top5_overlap_counts_shared_classes():
    ref = np.array([[9.0, 8, 7, 6, 5, 0, 0, 0]])
    test = np.array([[9.0, 8, 7, 0, 0, 6, 5, 0]])  # top-5 {0,1,2,5,6} vs {0,1,2,3,4}: 3 shared
    assert compare_logits(ref, test).top5_overlap == pytest.approx(3 / 5)


def test_identical_logits_have_infinite_sqnr_and_json_says_so():
    m = compare_logits(REF, REF)
    assert math.isinf(m.sqnr_db) and m.agreement == 1.0 and m.max_abs == 0.0
    assert m.to_json()["sqnr_db"] == "inf"
    assert m.top1_ref is None and m.delta_top1 is None


def test_a_nonfinite_row_is_counted_never_averaged_and_never_agrees():
    test = TEST.copy()
    test[1, 3] = np.nan
    m = compare_logits(REF, test)
    assert m.nonfinite_test == 1 and m.nonfinite_ref == 0
    assert m.agreement == pytest.approx(1 / 3)  # row 0 disagrees, row 1 is NaN, row 2 agrees
    assert np.isfinite(m.max_abs) and m.max_abs == pytest.approx(3.0)
    assert m.worst[0][0] == 1  # the NaN row is the worst sample


@pytest.mark.parametrize("a,b", [((3, 6), (3, 5)), ((6,), (6,)), ((0, 6), (0, 6))])
def test_bad_shapes_are_refused(a, b):
    with pytest.raises(ValueError):
        compare_logits(np.zeros(a), np.zeros(b))


def test_label_count_must_match():
    with pytest.raises(ValueError, match="2 labels for 3 samples"):
        compare_logits(REF, TEST, labels=[1, 2])
