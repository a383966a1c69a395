"""The prediction-time runtime: a verified bundle, its input contract, and scoring.

Nothing here imports the rest of mlwb (a test checks it), so the same code serves ``mlwb
predict``, ``mlwb serve`` and the installable predictor that ``mlwb deploy --wheel`` builds.
It needs NumPy, pandas, scikit-learn, skops and pydantic, and Polars when the bundle replays
recipe steps.
"""
