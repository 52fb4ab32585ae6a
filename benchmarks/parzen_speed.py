"""Time the full Parzen protocol (10k centres x 10k test images x 10 sigmas) on real MNIST.

    python benchmarks/parzen_speed.py [--data-dir /work/shared/data/mnist] [--threads N]

The centres are the 10,000 held-out images train[50000:60000] (the "real data reference"): sigma is
chosen on train[0:1000] (disjoint from the centres; see metrics.parzen.real_data_reference), the
log-likelihood is averaged over the 10,000 test images. Prints the seconds of each phase, then one
JSON line with the reference number and the total time. Never uses the cache.
"""

import argparse
import json
import time

import torch

from gankit.data.mnist import load_mnist
from gankit.metrics import parzen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/work/shared/data/mnist")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = load_mnist(args.data_dir)
    t_load = time.perf_counter() - t0
    centres, val, test = data.val[:parzen.N_SAMPLES], data.train[:parzen.N_VAL], data.test
    print(f"loaded MNIST in {t_load:.1f} s: centres {tuple(centres.shape)}, sigma-selection "
          f"{tuple(val.shape)}, test {tuple(test.shape)}; {torch.get_num_threads()} threads")

    t1 = time.perf_counter()
    scores = parzen.sigma_scores(centres, val)
    t_sigma = time.perf_counter() - t1
    for s, v in zip(parzen.SIGMAS, scores.tolist()):
        print(f"  sigma {s:.4f}: mean LL on the sigma-selection images {v:10.2f}")
    print(f"sigma selection (1,000 x 10,000 x 10 sigmas): {t_sigma:.1f} s")

    t2 = time.perf_counter()
    result = parzen.parzen_protocol(centres, val, test)  # the whole protocol, timed end to end
    t_protocol = time.perf_counter() - t2
    print(f"full protocol (sigma selection + 10,000 test x 10,000 centres): {t_protocol:.1f} s")
    print(json.dumps({"benchmark": "parzen_speed", "seconds_protocol": round(t_protocol, 2),
                      "threads": torch.get_num_threads(), "real_ll_mean": round(result.ll_mean, 2),
                      "real_ll_se": round(result.ll_se, 2), "real_sigma": round(result.sigma, 4),
                      "n_samples": result.n_samples, "n_val": result.n_val,
                      "n_test": result.n_test, "paper_adversarial_nets": "225 +- 2"}))


if __name__ == "__main__":
    main()
