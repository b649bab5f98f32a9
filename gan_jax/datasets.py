"""The built-in generated dataset: a table shaped like card-fraud data.

`make_fraud_like` draws a table with the columns of the public credit-card
fraud file (``Time``, ``V1`` … ``V28``, ``Amount``, ``Class``) so that the
package can be tried, tested and benchmarked without downloading anything.
No value is taken from the real file; only its broad shape is imitated:

* ``V1`` … ``V28`` behave like PCA scores. For the majority class (label 0)
  they are independent, zero-mean normals whose standard deviations fall
  geometrically from 1.9 (``V1``) to 0.3 (``V28``).
* The minority class (label 1) shares those distributions in most
  components but is shifted and widened in seven of them (``V3``, ``V4``,
  ``V10``, ``V11``, ``V12``, ``V14``, ``V17``) and mildly shifted in three
  more (``V1``, ``V2``, ``V7``). All shifts scale with one per-row severity,
  so the shifted components are correlated within the minority class and a
  share of low-severity minority rows hides among the majority rows: a
  linear classifier finds the minority class well but not perfectly.
* ``Amount`` is positive, rounded to cents and heavy-tailed (lognormal); the
  minority class mixes many small amounts with a few large ones.
* ``Time`` counts whole seconds over two days. The majority class follows a
  daily cycle with few rows at night; the minority class is nearly flat.

`BUILTIN_DATASET` is the name under which the command line offers it.
"""

import numbers

import numpy as np
import pandas as pd

BUILTIN_DATASET = "fraud-like"

_NUM_COMPONENTS = 28
_SECONDS_PER_DAY = 86_400
_NUM_DAYS = 2

# Majority standard deviations of V1..V28, falling as PCA variances do.
_COMPONENT_SCALES = 1.9 * (0.3 / 1.9) ** np.linspace(0.0, 1.0, _NUM_COMPONENTS)

# Minority shift per unit severity, in majority standard deviations, and the
# factor that widens the minority noise; components not listed are left as
# they are for the majority. Signs follow the real data (V14 falls, V4 rises).
_MINORITY_SHIFTS = {
    1: -0.5,
    2: 0.5,
    3: -1.4,
    4: 1.6,
    7: -0.5,
    10: -1.7,
    11: 1.5,
    12: -1.9,
    14: -2.2,
    17: -1.8,
}
_MINORITY_WIDENING = {
    3: 1.5,
    4: 1.3,
    10: 1.5,
    11: 1.3,
    12: 1.5,
    14: 1.5,
    17: 2.0,
}

# Severity ~ Gamma(shape, scale) with mean 1; a small shape puts enough rows
# near zero severity that the classes overlap.
_SEVERITY_SHAPE = 1.5
_SEVERITY_SCALE = 1.0 / _SEVERITY_SHAPE

# Amount ~ lognormal(log(median), sigma). The minority class is a mixture of
# small "card test" charges and larger ones.
_MAJORITY_AMOUNT = (np.log(22.0), 1.6)
_MINORITY_SMALL_AMOUNT = (np.log(1.5), 0.9)
_MINORITY_LARGE_AMOUNT = (np.log(90.0), 1.3)
_MINORITY_SMALL_SHARE = 0.45

# Daily intensity 1 + a * cos(2 pi (hour - 15) / 24): peak mid-afternoon,
# trough at 3 am; the amplitude a says how strong the cycle is.
_PEAK_HOUR = 15.0
_MAJORITY_CYCLE = 0.8
_MINORITY_CYCLE = 0.2


def make_fraud_like(
    num_rows: int = 20_000,
    minority_fraction: float = 0.02,
    seed: int = 0,
) -> pd.DataFrame:
    """Draws a shuffled table shaped like the credit-card fraud data.

    Recipe, with ``s_j = 1.9 * (0.3 / 1.9) ** ((j - 1) / 27)`` the majority
    standard deviation of ``Vj``:

    * Class counts: ``round(num_rows * minority_fraction)`` minority rows
      (Python's ``round``, half to even), clipped to at least 1 and at most
      ``num_rows - 1`` so that both classes are present; the rest majority.
    * Majority ``Vj ~ Normal(0, s_j**2)``, independent.
    * Minority ``Vj = s_j * (d_j * r + w_j * e_j)`` with one severity
      ``r ~ Gamma(shape=1.5, scale=1/1.5)`` (mean 1) per row and
      ``e_j ~ Normal(0, 1)``. Shift ``d_j`` and widening ``w_j``:
      ``V14`` -2.2 / 1.5, ``V12`` -1.9 / 1.5, ``V17`` -1.8 / 2.0,
      ``V10`` -1.7 / 1.5, ``V4`` +1.6 / 1.3, ``V11`` +1.5 / 1.3,
      ``V3`` -1.4 / 1.5; ``V1`` -0.5, ``V2`` +0.5, ``V7`` -0.5 with
      ``w_j = 1``; all other components ``d_j = 0, w_j = 1`` (same as the
      majority). The shared ``r`` correlates the shifted components.
    * Majority ``Amount ~ LogNormal(log 22, 1.6)``. Minority ``Amount`` is
      ``LogNormal(log 1.5, 0.9)`` with probability 0.45, otherwise
      ``LogNormal(log 90, 1.3)``. Rounded to cents, at least 0.01.
    * ``Time = day * 86400 + second`` with ``day`` uniform in {0, 1} and the
      second of the day drawn with weight
      ``1 + a * cos(2 pi (second / 3600 - 15) / 24)``: ``a = 0.8`` for the
      majority (a trough at 3 am about a ninth of the 3 pm peak),
      ``a = 0.2`` for the minority.
    * Rows are shuffled by a permutation drawn from the same generator.

    All draws come from ``np.random.default_rng(seed)`` in a fixed order, so
    the same arguments give a bit-identical table.

    Args:
        num_rows: Number of rows, at least 2.
        minority_fraction: Share of minority rows, strictly between 0 and 1.
        seed: Non-negative integer seed of the generator.

    Returns:
        A frame of ``num_rows`` rows with columns ``Time``, ``V1`` … ``V28``,
        ``Amount`` (float64) and ``Class`` (int64; 1 marks the minority) and
        a default ``RangeIndex``.

    Raises:
        ValueError: If an argument has the wrong type or is out of range.
    """
    _check_arguments(num_rows, minority_fraction, seed)
    num_rows = int(num_rows)
    minority_fraction = float(minority_fraction)
    num_minority = min(
        max(round(num_rows * minority_fraction), 1), num_rows - 1
    )
    num_majority = num_rows - num_minority
    rng = np.random.default_rng(int(seed))

    majority_v = rng.standard_normal((num_majority, _NUM_COMPONENTS))
    majority_v *= _COMPONENT_SCALES
    minority_v = _minority_components(rng, num_minority)
    components = np.concatenate([majority_v, minority_v])

    amount = np.concatenate(
        [
            rng.lognormal(*_MAJORITY_AMOUNT, size=num_majority),
            _minority_amounts(rng, num_minority),
        ]
    )
    # Rounding to cents can reach zero; the smallest charge is one cent.
    amount = np.maximum(np.round(amount, 2), 0.01)

    time = np.concatenate(
        [
            _draw_times(rng, num_majority, _MAJORITY_CYCLE),
            _draw_times(rng, num_minority, _MINORITY_CYCLE),
        ]
    )

    labels = np.concatenate(
        [
            np.zeros(num_majority, dtype=np.int64),
            np.ones(num_minority, dtype=np.int64),
        ]
    )
    order = rng.permutation(num_rows)

    columns = {"Time": time[order]}
    for j in range(_NUM_COMPONENTS):
        columns[f"V{j + 1}"] = components[order, j]
    columns["Amount"] = amount[order]
    columns["Class"] = labels[order]
    return pd.DataFrame(columns)


def _check_arguments(num_rows, minority_fraction, seed) -> None:
    """Raises ValueError naming the first argument that is not acceptable."""
    # Each test checks the type first so that the comparison after `or` only
    # ever sees a number.
    if not _is_integer(num_rows) or num_rows < 2:
        raise ValueError(
            "num_rows must be an integer of at least 2 so that both classes "
            f"appear, got {num_rows!r}."
        )
    # The negated comparison also rejects NaN.
    if not _is_real(minority_fraction) or not 0.0 < minority_fraction < 1.0:
        raise ValueError(
            "minority_fraction must be a number strictly between 0 and 1, "
            f"got {minority_fraction!r}."
        )
    if not _is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")


def _is_integer(value) -> bool:
    """Whether value is a Python or NumPy integer, bool excluded."""
    # bool is an Integral in Python, but num_rows=True is surely a mistake.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    """Whether value is a Python or NumPy real number, bool excluded."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _minority_components(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draws minority V1..V28, shape (n, 28), as the recipe describes."""
    shifts = np.zeros(_NUM_COMPONENTS)
    for j, shift in _MINORITY_SHIFTS.items():
        shifts[j - 1] = shift
    widening = np.ones(_NUM_COMPONENTS)
    for j, factor in _MINORITY_WIDENING.items():
        widening[j - 1] = factor

    severity = rng.gamma(_SEVERITY_SHAPE, _SEVERITY_SCALE, size=(n, 1))
    noise = rng.standard_normal((n, _NUM_COMPONENTS))
    return _COMPONENT_SCALES * (shifts * severity + widening * noise)


def _minority_amounts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draws minority amounts, shape (n,), from the two-part mixture."""
    is_small = rng.random(n) < _MINORITY_SMALL_SHARE
    small = rng.lognormal(*_MINORITY_SMALL_AMOUNT, size=n)
    large = rng.lognormal(*_MINORITY_LARGE_AMOUNT, size=n)
    return np.where(is_small, small, large)


def _draw_times(
    rng: np.random.Generator, n: int, amplitude: float
) -> np.ndarray:
    """Draws whole-second times, shape (n,), over two days with a cycle."""
    hours = np.arange(_SECONDS_PER_DAY) / 3600.0
    weights = 1.0 + amplitude * np.cos(2.0 * np.pi * (hours - _PEAK_HOUR) / 24)
    second = rng.choice(_SECONDS_PER_DAY, size=n, p=weights / weights.sum())
    day = rng.integers(0, _NUM_DAYS, size=n)
    return (day * _SECONDS_PER_DAY + second).astype(np.float64)
