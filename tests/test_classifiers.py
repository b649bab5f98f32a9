import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from gan_jax import load_table, make_fraud_like
from gan_jax.classifiers import CLASSIFIERS, fit_classifier, make_classifier


@pytest.fixture(scope="module")
def table():
    return load_table(
        make_fraud_like(num_rows=1200, minority_fraction=0.05, seed=4)
    )


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_each_classifier_scores_the_minority(table, name):
    model = fit_classifier(
        make_classifier(name, 0), table.features, table.labels
    )
    scores = model.predict_proba(table.features)[:, 1]
    assert scores.shape == (table.num_rows,)
    assert ((scores >= 0) & (scores <= 1)).all()
    # On its own training rows every classifier ranks the minority higher.
    assert scores[table.labels == 1].mean() > scores[table.labels == 0].mean()


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_same_seed_gives_the_same_scores(table, name):
    def scores():
        model = make_classifier(name, 3)
        fit_classifier(model, table.features, table.labels)
        return model.predict_proba(table.features)[:, 1]

    np.testing.assert_array_equal(scores(), scores())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_sample_weight_changes_the_fit(table, name):
    def scores(weight):
        model = make_classifier(name, 3)
        fit_classifier(model, table.features, table.labels, weight)
        return model.predict_proba(table.features)[:, 1]

    heavy = np.where(table.labels == 1, 10.0, 1.0)
    assert scores(heavy).mean() > scores(None).mean()


def test_unknown_classifier_lists_the_known_ones():
    with pytest.raises(ValueError, match="random-forest"):
        make_classifier("svm", 0)


def test_the_forest_draws_fewer_rows_per_tree_only_on_larger_sets():
    def forest(num_rows, limit):
        return make_classifier(
            "random-forest", 0, num_rows=num_rows, forest_rows_per_tree=limit
        )

    assert forest(1000, 1000).max_samples is None
    assert forest(1001, 1000).max_samples == 1000
    assert forest(10**6, None).max_samples is None
    assert forest(None, 1000).max_samples is None
    # At or under the limit the forest is scikit-learn's default one.
    plain = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
    assert forest(1000, 1000).get_params() == plain.get_params()


def test_a_capped_forest_fits_and_still_ranks_the_minority(table):
    model = make_classifier(
        "random-forest",
        0,
        num_rows=table.num_rows,
        forest_rows_per_tree=table.num_rows // 4,
    )
    fit_classifier(model, table.features, table.labels)
    scores = model.predict_proba(table.features)[:, 1]
    assert scores[table.labels == 1].mean() > scores[table.labels == 0].mean()
