"""How recognisable are a digits run's samples? A classifier trained on the real 8x8 digits judges.

    python benchmarks/digits_quality.py RUN_DIR [RUN_DIR ...] [--n 2000]

Prints one JSON line per run: classes covered, the class histogram, KL(histogram || uniform), the
mean classifier confidence and the fraction of confident (p > 0.9) samples; and the same figures
for real held-out digits as the ceiling.
"""

import argparse
import json
import math

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import gankit


def judge(probs: np.ndarray) -> dict:
    hist = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    kl = float(sum(p * math.log(p * 10) for p in hist if p > 0))
    conf = probs.max(1)
    return {"classes": int((hist > 0.02).sum()), "kl_uniform": round(kl, 4),
            "mean_conf": round(float(conf.mean()), 4), "frac_conf_0.9": round(float((conf > 0.9).mean()), 4),
            "hist": [round(float(h), 3) for h in hist]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    d = load_digits()
    x_tr, x_te, y_tr, _ = train_test_split(d.data / 16.0, d.target, test_size=0.3, random_state=0)
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(x_tr, y_tr)
    print(json.dumps({"run": "real held-out digits (ceiling)", **judge(clf.predict_proba(x_te))}))
    for path in args.runs:
        x = gankit.load_run(path).sample(args.n, seed=0).reshape(args.n, -1).numpy()
        print(json.dumps({"run": path, **judge(clf.predict_proba(x))}))


if __name__ == "__main__":
    main()
