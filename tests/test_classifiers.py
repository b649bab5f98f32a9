import numpy as np
import pytest

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
