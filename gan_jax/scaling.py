"""Invertible feature transforms into the generator's tanh range.

`Scaler` (the reference, "minmax") maps each feature linearly onto
[-1, 1]. `QuantileScaler` ("quantile") sends each feature through its own
training quantiles onto a normal distribution first, so that a heavy tail
(a few huge amounts among many small ones) no longer squeezes the bulk of
the rows into a sliver of the range. Both are fitted on training rows only
and have an inverse that undoes them.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from gan_jax.config import TRANSFORMS


def make_scaler(transform: str) -> Scaler | QuantileScaler:
    """An unfitted scaler of the named kind, one of `TRANSFORMS`."""
    if transform == "minmax":
        return Scaler()
    if transform == "quantile":
        return QuantileScaler()
    raise ValueError(
        f"unknown transform {transform!r}; choose from {', '.join(TRANSFORMS)}"
    )


class Scaler:
    """Maps each feature linearly onto [-1, 1], with an exact inverse.

    Fit it on training rows only. The training minimum of each feature maps
    to -1 and its maximum to +1; values outside the training range map
    beyond +-1 on the same line rather than being clipped, so nothing is
    lost on the way back. A constant feature maps to 0 and back to its
    value.

    Attributes:
        data_min: (features,) float64 training minimum, once fitted.
        data_max: (features,) float64 training maximum, once fitted.
    """

    def __init__(self) -> None:
        self.data_min: np.ndarray | None = None
        self.data_max: np.ndarray | None = None

    @property
    def num_features(self) -> int:
        return len(self._fitted()[0])

    def fit(self, rows: np.ndarray) -> Scaler:
        """Learns each feature's range from `rows`: (rows, features)."""
        rows = _as_matrix(rows, "rows")
        if rows.shape[0] == 0:
            raise ValueError("cannot fit a scaler on zero rows")
        if not np.isfinite(rows).all():
            raise ValueError("cannot fit a scaler on NaN or infinite values")
        self.data_min = rows.min(axis=0)
        self.data_max = rows.max(axis=0)
        return self

    def fit_transform(self, rows: np.ndarray) -> np.ndarray:
        return self.fit(rows).transform(rows)

    def transform(self, rows: np.ndarray) -> np.ndarray:
        """Original units to scaled: (rows, features) float32."""
        data_min, half_range, constant = self._line(rows)
        rows = _as_matrix(rows, "rows")
        # Measured from the minimum rather than from the midpoint, which
        # need not be a float: then the minimum maps to -1 and the maximum
        # to +1 exactly, even for a range of a few ulps such as 0.3 to
        # 0.1 + 0.2. Halving before subtracting keeps ranges near 1e308
        # finite.
        # A constant feature (half-range 1, offset 0) maps to 0 exactly.
        offset = np.where(constant, 0.0, 1.0)
        scaled = (rows / 2 - data_min / 2) / half_range * 2 - offset
        return scaled.astype(np.float32)

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled to original units: (rows, features) float64."""
        data_min, half_range, constant = self._line(scaled)
        scaled = _as_matrix(scaled, "scaled")
        restored = ((scaled + 1) / 2 * half_range + data_min / 2) * 2
        # 0 maps back to a constant feature's value exactly.
        return np.where(constant, scaled + data_min, restored)

    def _line(
        self, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The training minimum, half-range and constant-feature mask."""
        data_min, data_max = self._fitted()
        width = np.shape(rows)[-1] if np.ndim(rows) == 2 else None
        if width != len(data_min):
            raise ValueError(
                f"expected (rows, {len(data_min)}) values, got shape "
                f"{np.shape(rows)}"
            )
        # Halving before subtracting keeps huge ranges (near 1e308) finite.
        half_range = data_max / 2 - data_min / 2
        constant = ~(half_range > 0)
        # A constant feature gets half-range 1, so nothing divides by 0.
        return data_min, np.where(constant, 1.0, half_range), constant

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.data_min is None or self.data_max is None:
            raise ValueError("the scaler is not fitted yet; call fit first")
        return self.data_min, self.data_max


class QuantileScaler:
    """Each feature through its training quantiles onto [-1, 1].

    Fitted on training rows, it keeps K = min(`num_quantiles`, rows)
    quantiles of each feature, at levels 0, 1/(K-1), ..., 1. Level q maps
    to the normal quantile z(q) (levels clipped to [1e-7, 1 - 1e-7], as
    scikit-learn's QuantileTransformer does) divided by z(1 - 1e-7), so
    that the training range lands on [-1, 1] exactly; values between two
    quantiles are interpolated linearly. Where several quantiles are equal
    (a feature with repeated values), the value maps to the middle of
    their levels.

    The inverse is the same piecewise-linear map read backwards, so it
    undoes the transform up to rounding: that of the float32 scaled values
    (the GAN's precision), about 1e-7 of the feature's range, and none at
    the quantiles themselves in float64. Unlike
    `Scaler`, values outside the training range are clipped to it: beyond
    the training rows there are no quantiles to interpolate.

    Attributes:
        knots: (features, K) float64 training quantiles, once fitted.
    """

    #: Levels closer than this to 0 or 1 are clipped before the normal
    #: quantile (which is infinite at 0 and 1).
    BOUND = 1e-7

    def __init__(self, num_quantiles: int = 1000) -> None:
        if (
            not isinstance(num_quantiles, (int, np.integer))
            or isinstance(num_quantiles, bool)
            or num_quantiles < 2
        ):
            raise ValueError(
                f"num_quantiles must be an integer >= 2, got {num_quantiles!r}"
            )
        self.num_quantiles = int(num_quantiles)
        self.knots: np.ndarray | None = None

    @property
    def num_features(self) -> int:
        return self._fitted().shape[0]

    def fit(self, rows: np.ndarray) -> QuantileScaler:
        """Learns each feature's quantiles from `rows`: (rows, features)."""
        rows = _as_matrix(rows, "rows")
        if rows.shape[0] == 0:
            raise ValueError("cannot fit a scaler on zero rows")
        if not np.isfinite(rows).all():
            raise ValueError("cannot fit a scaler on NaN or infinite values")
        count = max(2, min(self.num_quantiles, rows.shape[0]))
        levels = np.linspace(0.0, 1.0, count)
        self.knots = np.ascontiguousarray(np.quantile(rows, levels, axis=0).T)
        return self

    def fit_transform(self, rows: np.ndarray) -> np.ndarray:
        return self.fit(rows).transform(rows)

    @staticmethod
    def positions(count: int) -> np.ndarray:
        """Where the K = `count` quantiles land in [-1, 1], increasing."""
        levels = np.linspace(0.0, 1.0, count)
        bound = QuantileScaler.BOUND
        normal = ndtri(np.clip(levels, bound, 1 - bound))
        positions = normal / ndtri(1 - bound)
        # Exact ends, whatever the rounding of ndtri.
        positions[0], positions[-1] = -1.0, 1.0
        return positions

    def transform(self, rows: np.ndarray) -> np.ndarray:
        """Original units to [-1, 1]: (rows, features) float32."""
        knots = self._fitted()
        rows = self._checked(rows, "rows")
        positions = self.positions(knots.shape[1])
        scaled = np.empty(rows.shape, np.float64)
        for j, feature_knots in enumerate(knots):
            # Forwards and backwards, averaged: where quantiles repeat, a
            # value equal to them lands in the middle of their positions.
            forwards = np.interp(rows[:, j], feature_knots, positions)
            backwards = -np.interp(
                -rows[:, j], -feature_knots[::-1], -positions[::-1]
            )
            scaled[:, j] = (forwards + backwards) / 2
        return scaled.astype(np.float32)

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """[-1, 1] to original units: (rows, features) float64."""
        knots = self._fitted()
        scaled = self._checked(scaled, "scaled")
        positions = self.positions(knots.shape[1])
        restored = np.empty(scaled.shape, np.float64)
        for j, feature_knots in enumerate(knots):
            restored[:, j] = np.interp(scaled[:, j], positions, feature_knots)
        return restored

    def _checked(self, rows: np.ndarray, name: str) -> np.ndarray:
        knots = self._fitted()
        width = np.shape(rows)[-1] if np.ndim(rows) == 2 else None
        if width != knots.shape[0]:
            raise ValueError(
                f"expected (rows, {knots.shape[0]}) values, got shape "
                f"{np.shape(rows)}"
            )
        return _as_matrix(rows, name)

    def _fitted(self) -> np.ndarray:
        if self.knots is None:
            raise ValueError("the scaler is not fitted yet; call fit first")
        return self.knots


def _as_matrix(rows: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(
            f"{name} must be a (rows, features) matrix, got shape "
            f"{matrix.shape}"
        )
    return matrix
