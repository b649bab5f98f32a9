"""Tests for the statistics over seeds: summaries, paired tests, verdicts."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from gan_jax.statistics import (
    BASELINE,
    CLASSICAL_OVERSAMPLERS,
    compare_to_best_classical,
    display_name,
    paired_differences,
    summarize,
    verdicts,
)

LOGISTIC = "logistic-regression"
FOREST = "random-forest"

# Five seeds of one classifier. gan - none = +0.01, +0.02, -0.03, +0.04,
# +0.05: mean +0.018; ranks of |d| are 1..5 and the negative one has rank
# 3, so T- = 3. Of the 32 equally likely sign patterns, 5 give a rank sum
# of at most 3 ({}, {1}, {2}, {3}, {1, 2}): two-sided p = 2 * 5/32.
NONE_VALUES = [0.50, 0.52, 0.54, 0.56, 0.58]
GAN_VALUES = [0.51, 0.54, 0.51, 0.60, 0.63]
HAND_MEAN_DIFFERENCE = 0.018
HAND_P_VALUE = 10 / 32


def _fits(
    values: dict[tuple[str, str], list[float]], seeds=None
) -> pd.DataFrame:
    """A metrics table: values[(oversampler, classifier)] per seed 0, 1..."""
    rows = []
    for (oversampler, classifier), column in values.items():
        for index, value in enumerate(column):
            seed = index if seeds is None else seeds[index]
            rows.append(
                {
                    "seed": seed,
                    "oversampler": oversampler,
                    "classifier": classifier,
                    "auprc": value,
                    "roc_auc": 0.9,
                }
            )
    return pd.DataFrame(rows)


def _fixed_table() -> pd.DataFrame:
    return _fits(
        {
            ("none", LOGISTIC): NONE_VALUES,
            ("gan", LOGISTIC): GAN_VALUES,
        }
    )


def _differences_table(differences) -> pd.DataFrame:
    """gan and none fits whose paired differences are `differences`."""
    reference = [0.5] * len(differences)
    method = [0.5 + d for d in differences]
    return _fits({("none", LOGISTIC): reference, ("gan", LOGISTIC): method})


def _p_value(differences) -> float:
    frame = paired_differences(_differences_table(differences))
    return float(frame["p_value"].iloc[0])


def _enumerated_p_value(differences) -> float:
    """Two-sided signed-rank p-value by listing every sign pattern."""
    differences = np.round(np.asarray(differences, dtype=np.float64), 12)
    nonzero = differences[differences != 0]
    if len(nonzero) == 0:
        return 1.0
    ranks = stats.rankdata(np.abs(nonzero))
    observed = ranks[nonzero > 0].sum()
    patterns = np.array(list(itertools.product([0, 1], repeat=len(nonzero))))
    totals = patterns @ ranks
    below = np.mean(totals <= observed + 1e-9)
    above = np.mean(totals >= observed - 1e-9)
    return min(1.0, 2 * min(below, above))


# ---------------------------------------------------------------- summarize


def test_summary_matches_hand_computed_mean_and_std():
    summary = summarize(_fixed_table())

    none = summary[summary["oversampler"] == "none"].iloc[0]
    assert none["n_seeds"] == 5
    assert none["mean"] == pytest.approx(0.54)
    # Deviations -0.04, -0.02, 0, 0.02, 0.04: squares sum to 0.004, / 4.
    assert none["std"] == pytest.approx(math.sqrt(0.001))


def test_summary_has_one_row_per_pair_in_order_of_first_appearance():
    table = _fits(
        {
            ("smote", FOREST): [0.1, 0.2],
            ("none", LOGISTIC): [0.3, 0.4],
            ("none", FOREST): [0.5, 0.6],
        }
    )

    summary = summarize(table)

    assert list(summary.columns) == [
        "oversampler",
        "classifier",
        "n_seeds",
        "mean",
        "std",
        "ci_low",
        "ci_high",
    ]
    pairs = zip(summary["oversampler"], summary["classifier"], strict=True)
    assert list(pairs) == [
        ("smote", FOREST),
        ("none", FOREST),
        ("none", LOGISTIC),
    ]


@settings(deadline=None, max_examples=30)
@given(
    st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=12),
    st.integers(0, 2**32 - 1),
)
def test_bootstrap_interval_contains_the_mean(values, seed):
    row = summarize(
        _fits({("gan", LOGISTIC): values}), num_bootstrap=500, seed=seed
    ).iloc[0]

    assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_bootstrap_interval_is_deterministic_for_a_seed():
    table = _fits(
        {("gan", LOGISTIC): [0.512, 0.537, 0.561, 0.589, 0.603, 0.644, 0.671]}
    )

    first = summarize(table, seed=7)
    again = summarize(table, seed=7)
    other = summarize(table, seed=8)

    pd.testing.assert_frame_equal(first, again)
    assert not first[["ci_low", "ci_high"]].equals(other[["ci_low", "ci_high"]])


def test_bootstrap_interval_ignores_row_order():
    table = _classical_table()
    shuffled = table.sample(frac=1.0, random_state=3)
    keys = ["oversampler", "classifier"]

    pd.testing.assert_frame_equal(
        summarize(shuffled).sort_values(keys, ignore_index=True),
        summarize(table).sort_values(keys, ignore_index=True),
    )


@settings(deadline=None, max_examples=20)
@given(
    st.lists(
        st.floats(0.0, 1.0, allow_nan=False), min_size=3, max_size=10
    ).filter(lambda values: np.ptp(values) > 0.01)
)
def test_bootstrap_interval_narrows_with_less_spread(values):
    values = np.asarray(values)
    # Half the spread about the same mean: every resampled mean moves half
    # as far from it, so the interval halves.
    narrower = values.mean() + 0.5 * (values - values.mean())

    wide = summarize(_fits({("gan", LOGISTIC): list(values)})).iloc[0]
    narrow = summarize(_fits({("gan", LOGISTIC): list(narrower)})).iloc[0]

    assert narrow["ci_high"] - narrow["ci_low"] == pytest.approx(
        0.5 * (wide["ci_high"] - wide["ci_low"]), rel=1e-6, abs=1e-12
    )


def test_one_seed_interval_is_the_value_and_std_is_nan():
    row = summarize(_fits({("gan", LOGISTIC): [0.37]})).iloc[0]

    assert row["n_seeds"] == 1
    assert row["ci_low"] == row["ci_high"] == row["mean"] == 0.37
    assert math.isnan(row["std"])


def test_summary_confidence_widens_the_interval():
    table = _fixed_table()

    narrow = summarize(table, confidence=0.5).iloc[0]
    wide = summarize(table, confidence=0.99).iloc[0]

    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"]
    assert narrow["ci_high"] < wide["ci_high"]


# ------------------------------------------------------- paired_differences


def test_paired_differences_match_hand_computed_values():
    frame = paired_differences(_fixed_table())

    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["oversampler"], row["classifier"]) == ("gan", LOGISTIC)
    assert row["reference"] == "none"
    assert row["n_pairs"] == 5
    assert row["mean_difference"] == pytest.approx(HAND_MEAN_DIFFERENCE)
    assert row["p_value"] == pytest.approx(HAND_P_VALUE)


@pytest.mark.parametrize(
    ("num_pairs", "expected"),
    [(5, 2 / 32), (6, 2 / 64)],
    ids=["five", "six"],
)
def test_all_positive_differences_give_exact_p_of_two_over_two_to_the_n(
    num_pairs, expected
):
    differences = [0.01 * (k + 1) for k in range(num_pairs)]

    assert _p_value(differences) == pytest.approx(expected, rel=1e-12)


def test_all_zero_differences_give_p_of_one():
    assert _p_value([0.0, 0.0, 0.0, 0.0]) == 1.0


@pytest.mark.parametrize("differences", [[0.05], [0.0]], ids=["5%", "zero"])
def test_fewer_than_two_pairs_give_nan_p(differences):
    frame = paired_differences(_differences_table(differences))

    assert frame["n_pairs"].iloc[0] == 1
    assert math.isnan(frame["p_value"].iloc[0])


def test_no_shared_seed_gives_no_pairs():
    table = _fits({("none", LOGISTIC): [0.5, 0.6]}, seeds=[0, 1]).merge(
        _fits({("gan", LOGISTIC): [0.5, 0.6]}, seeds=[2, 3]), how="outer"
    )

    row = paired_differences(table).iloc[0]

    assert row["n_pairs"] == 0
    assert math.isnan(row["mean_difference"])
    assert math.isnan(row["p_value"])


def test_zero_differences_are_discarded_before_ranking():
    # Wilcoxon's zero method: the zero pair drops out, leaving five
    # positive differences, p = 2/32.
    differences = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]

    assert _p_value(differences) == pytest.approx(2 / 32, rel=1e-12)


def test_differences_equal_up_to_float_noise_are_ties():
    # 0.31 - 0.30 and 0.41 - 0.40 differ in the last bits. Tied, the ranks
    # are 1.5, 1.5, 3, 4, 5 with T- = 1.5: the sign patterns with a rank
    # sum of at most 1.5 are {}, {1.5}, {1.5'}, so p = 2 * 3/32. Untied,
    # the negative one would get rank 1 and p = 2 * 2/32.
    table = _fits(
        {
            ("none", LOGISTIC): [0.30, 0.41, 0.50, 0.50, 0.50],
            ("gan", LOGISTIC): [0.31, 0.40, 0.52, 0.53, 0.54],
        }
    )

    row = paired_differences(table).iloc[0]

    assert row["p_value"] == pytest.approx(6 / 32, rel=1e-12)


@settings(deadline=None, max_examples=40)
@given(st.lists(st.integers(-4, 4), min_size=2, max_size=8))
def test_p_value_matches_enumeration_of_sign_patterns(steps):
    # Small integer steps make ties and zeros common: the exact and the
    # enumerated paths are both checked against the definition.
    differences = [0.01 * step for step in steps]

    assert _p_value(differences) == pytest.approx(
        _enumerated_p_value(differences), rel=1e-9
    )


def test_many_tied_pairs_use_the_normal_approximation():
    differences = [0.01, 0.01, -0.02] + [0.01 * k for k in range(3, 15)]
    rounded = np.round(differences, 12)

    expected = stats.wilcoxon(rounded, method="asymptotic").pvalue

    assert _p_value(differences) == pytest.approx(expected, rel=1e-12)


@settings(deadline=None, max_examples=25)
@given(
    st.lists(st.integers(-6, 6), min_size=2, max_size=8),
)
def test_swapping_method_and_baseline_negates_difference_keeps_p(steps):
    differences = [0.01 * step for step in steps]
    table = _differences_table(differences)
    swapped = table.assign(
        oversampler=table["oversampler"].map({"gan": "none", "none": "gan"})
    )

    forward = paired_differences(table).iloc[0]
    backward = paired_differences(swapped).iloc[0]

    assert backward["mean_difference"] == pytest.approx(
        -forward["mean_difference"], abs=1e-12
    )
    assert backward["p_value"] == pytest.approx(forward["p_value"])


def test_pairing_uses_only_seeds_present_in_both():
    # none has seeds 0..5 and gan 1..6: the pairs are seeds 1..5, where
    # gan is always 0.1 higher; the unpaired seeds would change the mean.
    table = pd.concat(
        [
            _fits({("none", LOGISTIC): [0.9, 0.1, 0.2, 0.3, 0.4, 0.5]}),
            _fits(
                {("gan", LOGISTIC): [0.2, 0.3, 0.4, 0.5, 0.6, 0.0]},
                seeds=[1, 2, 3, 4, 5, 6],
            ),
        ]
    )

    row = paired_differences(table).iloc[0]

    assert row["n_pairs"] == 5
    assert row["mean_difference"] == pytest.approx(0.1)


@settings(deadline=None, max_examples=15)
@given(st.randoms(use_true_random=False))
def test_pairing_survives_shuffled_rows(random):
    table = _fixed_table()
    order = list(range(len(table)))
    random.shuffle(order)

    row = paired_differences(table.iloc[order]).iloc[0]

    assert row["mean_difference"] == pytest.approx(HAND_MEAN_DIFFERENCE)
    assert row["p_value"] == pytest.approx(HAND_P_VALUE)


def test_pairing_matches_the_same_classifier_only():
    table = _fits(
        {
            ("none", LOGISTIC): [0.1, 0.1],
            ("none", FOREST): [0.8, 0.8],
            ("gan", LOGISTIC): [0.2, 0.2],
            ("gan", FOREST): [0.7, 0.7],
        }
    )

    frame = paired_differences(table).set_index("classifier")

    assert frame.loc[LOGISTIC, "mean_difference"] == pytest.approx(0.1)
    assert frame.loc[FOREST, "mean_difference"] == pytest.approx(-0.1)


def test_reference_column_names_the_baseline():
    table = _fits(
        {
            ("none", LOGISTIC): [0.1, 0.2],
            ("class-weight", LOGISTIC): [0.3, 0.4],
            ("gan", LOGISTIC): [0.5, 0.7],
        }
    )

    frame = paired_differences(table, baseline="class-weight")

    assert list(frame["oversampler"]) == ["none", "gan"]
    assert set(frame["reference"]) == {"class-weight"}


def test_paired_differences_use_the_chosen_metric():
    table = _fixed_table()
    table["roc_auc"] = np.where(table["oversampler"] == "gan", 0.8, 0.7)

    row = paired_differences(table, metric="roc_auc").iloc[0]

    assert row["mean_difference"] == pytest.approx(0.1)


def test_missing_baseline_is_an_error():
    table = _fits({("gan", LOGISTIC): [0.1, 0.2]})

    with pytest.raises(ValueError, match="no fit of the baseline 'none'"):
        paired_differences(table)


# ------------------------------------------------ compare_to_best_classical


def _classical_table() -> pd.DataFrame:
    """SMOTE is best for logistic regression, ADASYN for the forest."""
    return _fits(
        {
            ("none", LOGISTIC): [0.10, 0.11, 0.12],
            ("smote", LOGISTIC): [0.40, 0.41, 0.42],
            ("random", LOGISTIC): [0.30, 0.31, 0.32],
            ("gan", LOGISTIC): [0.35, 0.36, 0.37],
            ("none", FOREST): [0.20, 0.21, 0.22],
            ("smote", FOREST): [0.50, 0.51, 0.52],
            ("adasyn", FOREST): [0.60, 0.61, 0.62],
            ("gan", FOREST): [0.70, 0.71, 0.72],
        }
    )


def test_best_classical_is_the_highest_mean_per_classifier():
    frame = compare_to_best_classical(_classical_table()).set_index(
        "classifier"
    )

    assert frame.loc[LOGISTIC, "reference"] == "smote"
    assert frame.loc[LOGISTIC, "mean_difference"] == pytest.approx(-0.05)
    assert frame.loc[FOREST, "reference"] == "adasyn"
    assert frame.loc[FOREST, "mean_difference"] == pytest.approx(0.10)
    assert list(frame["oversampler"]) == ["gan", "gan"]


def test_best_classical_has_the_columns_of_paired_differences():
    frame = compare_to_best_classical(_classical_table())

    assert list(frame.columns) == list(
        paired_differences(_classical_table()).columns
    )


def test_best_classical_ignores_the_baseline_and_the_gan():
    # none and gan beat every classical oversampler here and must not be
    # picked as the reference.
    table = _fits(
        {
            ("none", LOGISTIC): [0.9, 0.9],
            ("class-weight", LOGISTIC): [0.1, 0.2],
            ("gan", LOGISTIC): [0.8, 0.8],
        }
    )

    row = compare_to_best_classical(table).iloc[0]

    assert row["reference"] == "class-weight"


def test_equal_classical_means_go_to_the_first_listed():
    assert CLASSICAL_OVERSAMPLERS.index("random") < (
        CLASSICAL_OVERSAMPLERS.index("adasyn")
    )
    table = _fits(
        {
            ("adasyn", LOGISTIC): [0.2, 0.4],
            ("random", LOGISTIC): [0.4, 0.2],
            ("gan", LOGISTIC): [0.5, 0.5],
        }
    )

    assert compare_to_best_classical(table).iloc[0]["reference"] == "random"


def test_classifiers_without_gan_or_classical_fits_are_skipped():
    table = _fits(
        {
            ("smote", LOGISTIC): [0.1, 0.2],
            ("gan", FOREST): [0.3, 0.4],
            ("none", FOREST): [0.3, 0.4],
            ("gan", "hist-gradient-boosting"): [0.3, 0.4],
            ("smote", "hist-gradient-boosting"): [0.2, 0.3],
        }
    )

    frame = compare_to_best_classical(table)

    assert list(frame["classifier"]) == ["hist-gradient-boosting"]


# ------------------------------------------------------------------ verdicts


def _verdict_table(num_seeds: int) -> pd.DataFrame:
    """gan is about 0.02 above none and 0.004 below SMOTE on every seed.

    The differences grow by 1e-5 a seed so that none tie: with ties the
    test enumerates sign patterns, which is slow for many seeds.
    """
    none = [0.50 + 0.001 * k for k in range(num_seeds)]
    gan = [value + 0.020 + 1e-5 * k for k, value in enumerate(none)]
    return _fits(
        {
            ("none", LOGISTIC): none,
            ("smote", LOGISTIC): [
                value + 0.024 + 3e-5 * k for k, value in enumerate(none)
            ],
            ("random", LOGISTIC): [
                value + 0.010 + 2e-5 * k for k, value in enumerate(none)
            ],
            ("gan", LOGISTIC): gan,
        }
    )


def test_verdict_gives_signed_differences_names_and_p_values():
    sentence = verdicts(_verdict_table(6))[LOGISTIC]

    assert sentence.startswith("GAN augmentation: +0.020 AUPRC vs. no ")
    assert "-0.004 AUPRC vs. SMOTE, the best classical oversampler" in sentence
    # Six positive (negative) differences: p = 2/64 both times.
    assert sentence.count("6 seeds, p = 0.031, significant at alpha") == 2


def test_verdict_is_keyed_by_classifier():
    table = _verdict_table(3)
    table = pd.concat([table, table.assign(classifier=FOREST)])

    assert list(verdicts(table)) == [LOGISTIC, FOREST]


def test_verdict_says_not_significant_above_alpha():
    sentence = verdicts(_verdict_table(6), alpha=0.01)[LOGISTIC]

    assert sentence.count("p = 0.031, not significant at alpha = 0.01") == 2


def test_verdict_says_when_seeds_cannot_reach_alpha():
    # With 4 seeds the smallest two-sided p-value is 2/16 = 0.125.
    sentence = verdicts(_verdict_table(4))[LOGISTIC]

    assert (
        "4 seeds, p = 0.12, not significant at alpha = 0.05, which 4 seeds "
        "cannot reach" in sentence
    )


def test_verdict_says_when_p_cannot_be_computed():
    sentence = verdicts(_verdict_table(1))[LOGISTIC]

    assert "+0.020 AUPRC vs. no oversampling (1 seed, too few" in sentence
    assert "p =" not in sentence


def test_verdict_shows_tiny_p_values_as_below_a_thousandth():
    # Twelve positive differences: p = 2/4096, about 0.00049.
    sentence = verdicts(_verdict_table(12))[LOGISTIC]

    assert "p < 0.001, significant" in sentence


def test_verdict_names_the_metric_in_capitals():
    table = _verdict_table(3).assign(roc_auc=lambda t: t["auprc"])

    sentence = verdicts(table, metric="roc_auc")[LOGISTIC]

    assert "+0.020 ROC AUC vs." in sentence


def test_verdict_without_classical_oversampler_says_so():
    table = _verdict_table(3)
    table = table[table["oversampler"].isin(["none", "gan"])]

    sentence = verdicts(table)[LOGISTIC]

    assert "no classical oversampler to compare with" in sentence


def test_verdict_without_gan_fits_is_an_error():
    table = _verdict_table(3)
    table = table[table["oversampler"] != "gan"]

    with pytest.raises(ValueError, match="no fit of the method 'gan'"):
        verdicts(table)


@pytest.mark.parametrize(
    ("oversampler", "name"),
    [
        ("smote", "SMOTE"),
        ("borderline-smote", "borderline-SMOTE"),
        ("adasyn", "ADASYN"),
        ("random", "random oversampling"),
        ("class-weight", "class weights"),
        (BASELINE, "no oversampling"),
        ("something-new", "something-new"),
    ],
)
def test_display_names(oversampler, name):
    assert display_name(oversampler) == name


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: summarize(t.drop(columns="seed")), "lacks the column"),
        (lambda t: summarize(pd.concat([t, t.iloc[:1]])), "duplicate rows"),
        (lambda t: summarize(t, metric="precision"), "unknown metric"),
        (lambda t: summarize(t, metric="seed"), "unknown metric"),
        (lambda t: summarize(t, confidence=0.0), "confidence must be in"),
        (lambda t: summarize(t, confidence=1.0), "confidence must be in"),
        (lambda t: summarize(t, num_bootstrap=0), "num_bootstrap must be"),
        (lambda t: summarize(t, seed=-1), "seed must be"),
        (lambda t: summarize(t.iloc[:0]), "no rows"),
        (
            lambda t: summarize(t.assign(auprc=np.nan)),
            "missing or infinite",
        ),
        (
            lambda t: summarize(t.assign(seed=t["seed"] + 0.5)),
            "must hold integers",
        ),
        (
            lambda t: paired_differences(t.drop(columns="classifier")),
            "lacks the column",
        ),
        (
            lambda t: compare_to_best_classical(t, metric="precision"),
            "unknown metric",
        ),
        (lambda t: verdicts(t, alpha=1.5), "alpha must be in"),
    ],
    ids=[
        "missing-column",
        "duplicates",
        "unknown-metric",
        "key-as-metric",
        "confidence-zero",
        "confidence-one",
        "no-bootstrap",
        "negative-seed",
        "empty",
        "nan-metric",
        "float-seeds",
        "paired-missing-column",
        "best-unknown-metric",
        "alpha",
    ],
)
def test_unusable_input_is_a_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(_fixed_table())


def test_duplicate_error_names_the_fit():
    table = _fixed_table()

    with pytest.raises(ValueError, match=r"\(0, 'none', 'logistic-regr"):
        summarize(pd.concat([table, table.iloc[:1]]))
