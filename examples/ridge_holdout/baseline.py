"""Polynomial ridge regression of a noisy signal; writes val_mse to metrics.json and the fitted
weights to model.json, which the held-out script (holdout.py) evaluates on data the search never sees."""

import json

import numpy as np

DEGREE = 2  # polynomial degree of the features
ALPHA = 1.0  # ridge penalty
SEED = 0


def make_data(n, rng):
    x = rng.uniform(-1, 1, n)
    y = np.sin(3 * x) + 0.5 * np.cos(7 * x) + rng.normal(0, 0.1, n)
    return x, y


def features(x, degree):
    return np.vander(x, degree + 1, increasing=True)


def predict(model, x):
    """The fitted curve at ``x`` (the held-out script imports this)."""
    return features(x, model["degree"]) @ np.array(model["weights"])


def main():
    rng = np.random.default_rng(SEED)
    x_train, y_train = make_data(80, rng)
    x_val, y_val = make_data(400, rng)
    a = features(x_train, DEGREE)
    weights = np.linalg.solve(a.T @ a + ALPHA * np.eye(a.shape[1]), a.T @ y_train)
    model = {"degree": DEGREE, "weights": weights.tolist()}
    train_mse = float(np.mean((predict(model, x_train) - y_train) ** 2))
    val_mse = float(np.mean((predict(model, x_val) - y_val) ** 2))
    print(f"degree {DEGREE} alpha {ALPHA:g}: train_mse {train_mse:.4f} val_mse {val_mse:.4f}")
    with open("model.json", "w") as f:
        json.dump(model, f)
    with open("metrics.json", "w") as f:
        json.dump({"val_mse": val_mse, "train_mse": train_mse}, f)


if __name__ == "__main__":
    main()
