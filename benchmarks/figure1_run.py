"""A real 1-D run (Figure 1's setting): the JSD falls and D approaches 1/2.

    python benchmarks/figure1_run.py [--data gauss|mixture] [--steps 4000] [--seeds 0,1,2]

Prints, per seed, JSD(p_data ‖ p_g), C(G), V(D, G) and max |D - 1/2| over training (computed exactly
on a grid by gankit.theory: p_g by the change of variables through G), then the final values.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gankit.figures.figure1 import run_1d


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="gauss", choices=("gauss", "mixture"))
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    torch.set_num_threads(1)
    finals = []
    for seed in (int(s) for s in args.seeds.split(",")):
        t0 = time.perf_counter()
        run = run_1d(args.data, args.steps, seed, n_snapshots=20)
        print(f"\nseed {seed} ({time.perf_counter() - t0:.1f} s)")
        print(f"{'step':>6} {'JSD':>7} {'C(G)':>8} {'V(D,G)':>8} {'max|D-1/2|':>10} {'max|D-D*|':>9}")
        for s in run.snapshots[::2] + ([run.snapshots[-1]] if len(run.snapshots) % 2 == 0 else []):
            print(f"{s.step:>6} {s.jsd:7.4f} {s.C_G:+8.4f} {s.V:+8.4f} {s.max_abs_d_minus_half:10.3f} "
                  f"{s.max_abs_d_minus_dstar:9.3f}")
        finals.append(run.snapshots[-1])
    jsds = [s.jsd for s in finals]
    print(f"\nfinal JSD over {len(finals)} seeds: mean {statistics.mean(jsds):.4f} "
          f"(min {min(jsds):.4f}, max {max(jsds):.4f}); initial ~ log 2 = 0.6931")
    print(f"final max|D - 1/2|: {', '.join(f'{s.max_abs_d_minus_half:.3f}' for s in finals)}; "
          f"max|D - D*|: {', '.join(f'{s.max_abs_d_minus_dstar:.3f}' for s in finals)}; "
          f"C(G) identity error: {max(s.cg_identity_error for s in finals):.1e}")


if __name__ == "__main__":
    main()
