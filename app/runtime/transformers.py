"""Transformers of mlwb's own that a fitted pipeline may contain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

DATE_PARTS = ("year", "month", "day", "weekday", "hour")


class DateParts(TransformerMixin, BaseEstimator):
    """Turns date/time columns into numeric year, month, day, weekday and hour columns."""

    def fit(self, X: Any, y: Any = None) -> DateParts:
        frame = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = pd.DataFrame(X)
        out = np.empty((len(frame), len(DATE_PARTS) * frame.shape[1]), dtype=np.float64)
        for i, column in enumerate(frame.columns):
            values = pd.to_datetime(frame[column], errors="coerce")
            dt = values.dt
            parts = (dt.year, dt.month, dt.day, dt.day_of_week, dt.hour)
            for j, part in enumerate(parts):
                out[:, i * len(DATE_PARTS) + j] = part.to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = self.feature_names_in_ if input_features is None else input_features
        return np.asarray([f"{n}_{p}" for n in names for p in DATE_PARTS], dtype=object)
