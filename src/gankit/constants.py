"""Numbers the paper gives, written once.

- Theorem 1: at the global optimum p_g = p_data, D = 1/2 everywhere and C(G) = -log 4; D's loss
  -V is then log 4 and the non-saturating G loss -log D(G(z)) is log 2.
- Table 1: Parzen-window log-likelihood (nats) of the test set, mean ± standard error.
"""

import math

LOG_4 = math.log(4.0)  # -V(D, G) at D = 1/2 everywhere: the equilibrium of Theorem 1
LOG_2 = math.log(2.0)  # -log D(G(z)) at D(G(z)) = 1/2
SQRT_3 = math.sqrt(3.0)  # gankit's uniform p_z is U(-sqrt 3, sqrt 3): unit variance

#: Table 1 of the paper: model -> ((MNIST mean, se), (TFD mean, se)), Parzen LL in nats.
PAPER_TABLE1: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "DBN": ((138, 2), (1909, 66)),
    "Stacked CAE": ((121, 1.6), (2110, 50)),
    "Deep GSN": ((214, 1.1), (1890, 29)),
    "Adversarial nets": ((225, 2), (2057, 26)),
}
#: Table 1, "Adversarial nets", MNIST: 225 ± 2 nats, the number `gankit reproduce mnist` aims at.
TABLE1_MNIST: tuple[float, float] = PAPER_TABLE1["Adversarial nets"][0]
