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
        center, half_range = self._line(rows)
        return ((_as_matrix(rows, "rows") - center) / half_range).astype(
            np.float32
        )

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled to original units: (rows, features) float64."""
        center, half_range = self._line(scaled)
        return _as_matrix(scaled, "scaled") * half_range + center

    def _line(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        data_min, data_max = self._fitted()
        width = np.shape(rows)[-1] if np.ndim(rows) == 2 else None
        if width != len(data_min):
            raise ValueError(
                f"expected (rows, {len(data_min)}) values, got shape "
                f"{np.shape(rows)}"
            )
        center = (data_max + data_min) / 2
        # A constant feature gets half-range 1: its value maps to 0 exactly
        # and 0 maps back to it.
        half_range = np.where(data_max > data_min, (data_max - data_min) / 2, 1)
        return center, half_range

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
