"""One fold of a k-fold trial (examples/kfold-sweep.yaml): fit on the other folds, report the held-out error.

Every fold of a trial gets the trial's parameters and seed, so `KFold(shuffle=True, random_state=seed)`
splits the data identically in each; `--fold ${fold}` (or `sweepctl.fold()`) says which part to hold out.
"""

from __future__ import annotations

import argparse

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

import sweepctl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fold", type=int, required=True)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--degree", type=int, default=1)
    args = parser.parse_args()
    x, y = load_diabetes(return_X_y=True)
    splits = KFold(n_splits=sweepctl.folds() or 5, shuffle=True, random_state=sweepctl.seed() or 0).split(x)
    train, held_out = list(splits)[args.fold]
    model = make_pipeline(PolynomialFeatures(args.degree), StandardScaler(), Ridge(alpha=args.alpha))
    model.fit(x[train], y[train])
    sweepctl.report(val_mse=mean_squared_error(y[held_out], model.predict(x[held_out])))


if __name__ == "__main__":
    main()
