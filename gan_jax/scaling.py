"""Invertible feature scaling into the generator's tanh range."""

from __future__ import annotations

import numpy as np


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


def _as_matrix(rows: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(
            f"{name} must be a (rows, features) matrix, got shape "
            f"{matrix.shape}"
        )
    return matrix
