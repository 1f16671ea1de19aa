"""A two-layer MLP in numpy on three interleaved spirals; writes val_accuracy to metrics.json."""

import json

import numpy as np

LR = 0.01  # learning rate of full-batch gradient descent with momentum
HIDDEN = 8  # width of the hidden layer
L2 = 0.0  # weight decay
EPOCHS = 300
SEED = 0


def spirals(n_per_class, rng):
    xs, ys = [], []
    for k in range(3):
        r = np.linspace(0.05, 1.0, n_per_class)
        t = np.linspace(0, 9.0, n_per_class) + k * 2 * np.pi / 3 + rng.normal(0, 0.3, n_per_class)
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(n_per_class, k))
    x, y = np.vstack(xs), np.concatenate(ys)
    order = rng.permutation(len(y))
    return x[order], y[order]


def main():
    rng = np.random.default_rng(SEED)
    x, y = spirals(300, rng)
    x_train, y_train, x_val, y_val = x[:600], y[:600], x[600:], y[600:]
    w1 = rng.normal(0, 1.0, (2, HIDDEN))
    b1 = np.zeros(HIDDEN)
    w2 = rng.normal(0, 1.0 / np.sqrt(HIDDEN), (HIDDEN, 3))
    b2 = np.zeros(3)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p) for p in params]
    onehot = np.eye(3)[y_train]
    for epoch in range(EPOCHS):
        h = np.tanh(x_train @ w1 + b1)
        logits = h @ w2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(probs[np.arange(len(y_train)), y_train] + 1e-12))
        d_logits = (probs - onehot) / len(y_train)
        d_w2 = h.T @ d_logits + L2 * w2
        d_b2 = d_logits.sum(axis=0)
        d_h = d_logits @ w2.T * (1 - h**2)
        d_w1 = x_train.T @ d_h + L2 * w1
        d_b1 = d_h.sum(axis=0)
        for p, v, g in zip(params, velocity, [d_w1, d_b1, d_w2, d_b2]):
            v *= 0.9
            v -= LR * g
            p += v
        if not np.isfinite(loss) or loss > 10:
            raise RuntimeError(f"training diverged at epoch {epoch}: loss {loss}")
        if epoch % 100 == 0:
            print(f"epoch {epoch} loss {loss:.4f}")
    val_logits = np.tanh(x_val @ w1 + b1) @ w2 + b2
    val_accuracy = float(np.mean(val_logits.argmax(axis=1) == y_val))
    train_logits = np.tanh(x_train @ w1 + b1) @ w2 + b2
    train_accuracy = float(np.mean(train_logits.argmax(axis=1) == y_train))
    print(f"final loss {loss:.4f} train_accuracy {train_accuracy:.3f} val_accuracy {val_accuracy:.3f}")
    with open("metrics.json", "w") as f:
        json.dump({"val_accuracy": val_accuracy, "train_accuracy": train_accuracy, "train_loss": float(loss)}, f)


if __name__ == "__main__":
    main()
