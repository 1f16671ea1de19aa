"""The held-out evaluation: run once, on the chosen node, after the search; the agents never see it.

It runs as `python holdout.py` in a copy of the node's folder, so the node's `experiment.py`
(importable: its training only runs under `if __name__ == "__main__"`) and the `model.json`
it saved are next to it. It writes the idea's metric, measured on fresh points from a seed
the experiments never use, to metrics.json.
"""

import json

import numpy as np

import experiment  # the node's own script: its make_data and predict

model = json.load(open("model.json"))
x, y = experiment.make_data(2000, np.random.default_rng(20_261_201))
test_mse = float(np.mean((experiment.predict(model, x) - y) ** 2))
print(f"held-out mse of degree {model['degree']}: {test_mse:.4f}")
json.dump({"val_mse": test_mse}, open("metrics.json", "w"))
