"""Build the shipped tasks in the MLE-bench layout from data bundled with scikit-learn (no downloads).

    python examples/tasks/build.py                 # into examples/tasks/<name>/ (next to their descriptions)
    python examples/tasks/build.py --out DIR       # into DIR/<name>/, descriptions and baselines copied
    python examples/tasks/build.py digits          # only some
    python examples/tasks/build.py --if-missing    # only what is not built yet (scripts/test.sh)

Each task gets public/ (train, test without labels, sample_submission.csv), private/answers.csv
and a leaderboard.csv of reference models (from a constant guess to tuned ensembles) trained
on the public training rows and graded on the private answers, so ranks mean something.
``digits_aide`` is the digits data in the AIDE layout: the public files side by side, no answers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # run as a script from anywhere in the repository

from discovery.tasks.make import write_competition  # noqa: E402
from discovery.tasks.metrics import METRICS  # noqa: E402

TEST_FRACTION = 0.3
SEED = 0


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return [f"p{i}" for i in range(d.data.shape[1])], "label", d.data, d.target, "accuracy", "0"


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    names = ["_".join(n.split()) for n in d.feature_names]
    return names, "malignant", d.data, 1 - d.target, "auc", "0.5"  # sklearn: 0 = malignant


def _diabetes():
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    return list(d.feature_names), "progression", d.data, d.target, "rmse", "150"


def _classifiers():
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    def scaled(model):
        return make_pipeline(StandardScaler(), model)

    models = [("constant", DummyClassifier(strategy="prior")), ("naive-bayes", GaussianNB())]
    models += [(f"stump-depth{d}", DecisionTreeClassifier(max_depth=d, random_state=0)) for d in (1, 2, 4, 8)]
    models += [(f"knn-{k}", scaled(KNeighborsClassifier(k))) for k in (1, 5, 25, 100)]
    models += [(f"logreg-C{c:g}", scaled(LogisticRegression(C=c, max_iter=300, tol=1e-3))) for c in (1e-4, 1e-2, 1)]
    models += [(f"svm-rbf-C{c:g}", scaled(SVC(C=c, random_state=0))) for c in (0.1, 1, 10)]
    models += [(f"forest-{n}", RandomForestClassifier(n, random_state=0)) for n in (3, 10, 100)]
    models += [("extra-trees-100", ExtraTreesClassifier(100, random_state=0))]
    return models


def _regressors():
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Lasso, Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor

    def scaled(model):
        return make_pipeline(StandardScaler(), model)

    models = [("constant-mean", DummyRegressor())]
    models += [(f"tree-depth{d}", DecisionTreeRegressor(max_depth=d, random_state=0)) for d in (1, 2, 4, 8, None)]
    models += [(f"knn-{k}", scaled(KNeighborsRegressor(k))) for k in (1, 5, 20, 50)]
    models += [(f"ridge-a{a:g}", scaled(Ridge(alpha=a))) for a in (0.1, 10, 100, 1000, 10000)]
    models += [(f"lasso-a{a:g}", scaled(Lasso(alpha=a))) for a in (0.1, 1, 10)]
    models += [(f"svr-C{c:g}", scaled(SVR(C=c))) for c in (1, 10, 100)]
    models += [(f"forest-{n}", RandomForestRegressor(n, random_state=0)) for n in (3, 10, 100)]
    return models


TASKS = {"digits": _digits, "breast_cancer": _breast_cancer, "diabetes": _diabetes}
AIDE = {"digits_aide": "digits"}  # an AIDE data folder (flat files, no answers) -> the competition it copies


def leaderboard(metric_name, x_train, y_train, x_test, y_test):
    """(model, test score) of each reference model."""
    from threadpoolctl import threadpool_limits

    metric = METRICS[metric_name]
    truth = [[str(v)] for v in y_test]
    out = []
    for name, model in (_classifiers() if metric_name in ("accuracy", "auc") else _regressors()):
        # One thread: these models are small, and on a busy machine threads only fight (5x slower here).
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            model.fit(x_train, y_train)
            if metric_name == "auc":
                scores = model.decision_function(x_test) if hasattr(model, "decision_function") else \
                    model.predict_proba(x_test)[:, list(model.classes_).index(1)]
                pred = scores
            else:
                pred = model.predict(x_test)
        out.append((name, metric.fn(truth, [[str(v)] for v in pred])))
    return out


def build(name: str, folder: Path) -> None:
    """Write task ``name`` (public/, private/, leaderboard.csv) into ``folder``."""
    from sklearn.model_selection import train_test_split

    features, target, x, y, metric, placeholder = TASKS[name]()
    ids = np.random.default_rng(SEED).permutation(len(y))  # ids that say nothing about the row
    classes = metric in ("accuracy", "auc")
    tr, te = train_test_split(np.arange(len(y)), test_size=TEST_FRACTION, random_state=SEED,
                              stratify=y if classes else None)
    tr, te = np.sort(tr), np.sort(te)
    y_out = y.astype(int) if classes else y.astype(float)
    board = leaderboard(metric, x[tr], y[tr], x[te], y[te])
    write_competition(folder, features, target, ids[tr], x[tr], y_out[tr], ids[te], x[te], y_out[te],
                      placeholder=placeholder, leaderboard=board)


def build_aide(source: Path, folder: Path) -> None:
    """The AIDE layout of a built competition: its public CSVs side by side, no answers."""
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        shutil.copy(source / "public" / name, folder / name)


def main(argv: list[str] | None = None) -> int:
    every = [*TASKS, *AIDE]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"tasks to build (default: all of {', '.join(every)})")
    parser.add_argument("--out", type=Path, help="build into OUT/<name>/ (default: examples/tasks/<name>/)")
    parser.add_argument("--if-missing", action="store_true", help="skip the tasks that are built already")
    args = parser.parse_args(argv)
    names = args.names or every
    for name in names:
        if name not in every:
            parser.error(f"unknown task {name!r} (choose from {', '.join(every)})")
    # An AIDE folder is made from its competition's public files: build that first.
    names = list(dict.fromkeys([AIDE[n] for n in names if n in AIDE] + names))
    for name in names:
        folder = (args.out / name) if args.out else HERE / name
        done = folder / ("train.csv" if name in AIDE else "leaderboard.csv")
        if args.if_missing and done.is_file():
            continue
        if args.out:
            folder.mkdir(parents=True, exist_ok=True)
            for f in ("description.md", "baseline.py"):
                shutil.copy(HERE / name / f, folder / f)
        if name in AIDE:
            build_aide(folder.parent / AIDE[name], folder)
        else:
            build(name, folder)
        print(f"built {name} in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
