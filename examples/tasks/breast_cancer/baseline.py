"""Breast cancer: logistic regression by gradient descent (numpy only); writes submission.csv."""

import csv
import json

import numpy as np

LR = 0.01  # gradient step
EPOCHS = 20  # full passes over the training rows
L2 = 0.1  # weight decay
SQUARES = False  # add the squared features
SEED = 0


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def auc(y, score):
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def fit_predict(x_train, y_train, x_test):
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-9

    def features(x):
        z = (x - mean) / std
        return np.hstack([z, z ** 2 / 3.0]) if SQUARES else z

    z, z_test = features(x_train), features(x_test)
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(EPOCHS):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= LR * (z.T @ (p - y_train) / len(y_train) + L2 * w)
        b -= LR * float(np.mean(p - y_train))
    return 1.0 / (1.0 + np.exp(-(z_test @ w + b)))


def main():
    header, train = read("data/train.csv")
    test_header, test = read("data/test.csv")
    features = [c for c in test_header if c != "id"]
    x = np.array([[float(r[header.index(c)]) for c in features] for r in train])
    y = np.array([int(r[header.index("malignant")]) for r in train])
    x_test = np.array([[float(r[test_header.index(c)]) for c in features] for r in test])
    order = np.random.default_rng(SEED).permutation(len(y))
    cut = int(0.8 * len(y))
    fit, val = order[:cut], order[cut:]
    own = auc(y[val], fit_predict(x[fit], y[fit], x[val]))
    print(f"LR {LR:g} EPOCHS {EPOCHS} L2 {L2:g} SQUARES {SQUARES}: own validation auc {own:.4f}")
    scores = fit_predict(x, y, x_test)
    with open("submission.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "malignant"])
        writer.writerows([[r[test_header.index("id")], f"{s:.6f}"] for r, s in zip(test, scores)])
    with open("metrics.json", "w") as f:
        json.dump({"auc": own}, f)


if __name__ == "__main__":
    main()
