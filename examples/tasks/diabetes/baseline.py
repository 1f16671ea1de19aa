"""Diabetes progression: ridge regression on polynomial features (numpy only); writes submission.csv."""

import csv
import json

import numpy as np

DEGREE = 1  # 1: linear; 2 adds squares and pairwise products; 3 adds cubes
ALPHA = 100.0  # ridge penalty
SEED = 0


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def expand(x):
    columns = [x]
    if DEGREE >= 2:
        i, j = np.triu_indices(x.shape[1])
        columns.append(x[:, i] * x[:, j])
    if DEGREE >= 3:
        columns.append(x ** 3)
    return np.hstack(columns)


def fit_predict(x_train, y_train, x_test):
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-9
    z, z_test = expand((x_train - mean) / std), expand((x_test - mean) / std)
    zm, zs = z.mean(axis=0), z.std(axis=0) + 1e-9
    z, z_test = (z - zm) / zs, (z_test - zm) / zs
    w = np.linalg.solve(z.T @ z + ALPHA * np.eye(z.shape[1]), z.T @ (y_train - y_train.mean()))
    return z_test @ w + y_train.mean()


def main():
    header, train = read("data/train.csv")
    test_header, test = read("data/test.csv")
    features = [c for c in test_header if c != "id"]
    x = np.array([[float(r[header.index(c)]) for c in features] for r in train])
    y = np.array([float(r[header.index("progression")]) for r in train])
    x_test = np.array([[float(r[test_header.index(c)]) for c in features] for r in test])
    order = np.random.default_rng(SEED).permutation(len(y))
    cut = int(0.8 * len(y))
    fit, val = order[:cut], order[cut:]
    rmse = float(np.sqrt(np.mean((fit_predict(x[fit], y[fit], x[val]) - y[val]) ** 2)))
    print(f"DEGREE {DEGREE} ALPHA {ALPHA:g}: own validation rmse {rmse:.3f}")
    predictions = fit_predict(x, y, x_test)
    with open("submission.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "progression"])
        writer.writerows([[r[test_header.index("id")], f"{p:.4f}"] for r, p in zip(test, predictions)])
    with open("metrics.json", "w") as f:
        json.dump({"rmse": rmse}, f)


if __name__ == "__main__":
    main()
