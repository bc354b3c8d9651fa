"""The propensity model and its permutation importances are the same bits whether joblib fits
them in worker processes or in the run's own process: the folds and the permuted columns each
have their own seed. (The tests count one core for joblib, conftest.py's LOKY_MAX_CPU_COUNT, so
`n_jobs=-1` runs in process there; this checks the processes a deployment uses give the same.)"""

import numpy as np

from seg_platform.predictions.propensity import fit_propensity, permutation_importances


def test_processes_and_in_process_give_the_same_model_and_importances():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 5))
    X[rng.random(X.shape) < 0.1] = np.nan  # the booster takes NaN as it is
    y = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) + rng.normal(size=600) > 0
    y = y.astype(np.int8)
    columns = [f"f{i}" for i in range(X.shape[1])]

    in_process = fit_propensity(X, y, seed=7, jobs=None)
    in_workers = fit_propensity(X, y, seed=7, jobs=2)
    assert np.array_equal(in_process.predict_proba(X), in_workers.predict_proba(X))
    assert 0.2 < in_process.predict_proba(X)[:, 1].mean() < 0.8  # a model, not a constant

    kept = permutation_importances(in_process, X, y, columns, seed=7, sample=400, jobs=None)
    spread = permutation_importances(in_workers, X, y, columns, seed=7, sample=400, jobs=2)
    assert kept == spread
    assert kept[0][0] == "f0" and kept[0][1] > 0  # the feature the outcome follows most
