"""Named starting points for a run, as data: preset records, modifiers and old names.

A preset record says what it changes from its base (another preset, or None: the defaults of
:class:`gankit.config.Config`, which are the paper's values), in one line what it is, and where the
evidence for it is. A modifier is a small named change that composes with any preset; an expression
``paper-mnist+ema+smooth-labels`` applies paper-mnist, then ema, then smooth-labels (left to right,
later wins). Old names stay loadable as aliases, so config.json files of older runs still resolve.

The notes and measurements behind each recipe: benchmarks/results/presets.md.
This module is data and name lookup only; :func:`gankit.config.resolve_config` builds the Config.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from gankit.errors import ConfigError
from gankit.utils.registry import unknown_name_message


@dataclass(frozen=True)
class Preset:
    """One named recipe: ``base`` (a preset expression, or None for the defaults) plus ``overrides``."""

    name: str
    base: str | None
    overrides: Mapping[str, Any]
    description: str  # one line for `gankit presets`
    evidence: str  # a file of this repository with the sources or measurements behind the recipe

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))


@dataclass(frozen=True)
class Modifier:
    """A named change that composes with any preset: ``PRESET+NAME``."""

    name: str
    overrides: Mapping[str, Any]
    description: str
    evidence: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))


# --- shared building blocks (not presets themselves) -----------------------------------------------

#: Toy problems: small MLPs with LeakyReLU D and Adam (low-dimensional data need neither maxout
#: nor dropout).
_TOY = dict(z_dim=2, z_dist="normal", g_hidden=(128, 128), d_hidden=(128, 128), d_maxout_pieces=0,
            d_dropout_input=0.0, d_dropout_hidden=0.0, g_init_range=0.0, d_init_range=0.0,
            g_output_bias_from_data=False, optimizer="adam", lr_d=1e-3, lr_g=1e-3, lr_decay=1.0,
            batch=100, steps=5000, snapshot_every=1000, grid_size=1000)

#: DCGAN (Radford et al., 2016): conv G with BatchNorm, conv D with LeakyReLU(0.2), Adam 2e-4,
#: beta1 0.5, z ~ N(0, I), batch 64. D has no BatchNorm: gankit's D step passes real and fake
#: examples through D in one batch, whose statistics BatchNorm would mix.
_DCGAN = dict(arch="conv", conv_width=64, z_dim=100, z_dist="normal", optimizer="adam",
              lr_d=2e-4, lr_g=2e-4, adam_beta1=0.5, adam_beta2=0.999, lr_decay=1.0,
              g_loss="nonsaturating", schedule="alternating", k=1, batch=64,
              snapshot_every=1000, log_every=50, grid_size=64)

#: PacGAN's networks for the 2-D mixtures (Lin et al. 2018, Table 1), on top of _TOY.
_PACGAN_TOY = dict(g_hidden=(400, 400, 400, 400), d_hidden=(200, 200, 200), d_maxout_pieces=5,
                   lr_d=1e-4, lr_g=1e-4, adam_beta1=0.8, adam_beta2=0.999)

#: A 100x decay of the learning rate over `steps` updates: lr_decay ** steps == 100.
_DECAY_100X_30K, _DECAY_100X_60K = 1.000153517455465, 1.0000767557820074

_MNIST_RESULTS = "benchmarks/results/mnist_parzen.md"
_OBJECTIVES = "docs/objectives.md"
_PRESET_NOTES = "benchmarks/results/presets.md"

# --- modifiers --------------------------------------------------------------------------------------

MODIFIERS: tuple[Modifier, ...] = (
    Modifier("ema", dict(g_ema=0.9999),
             "sample from a moving average of G's weights (decay 0.9999); for long runs",
             _MNIST_RESULTS),
    Modifier("fast-g", dict(lr_g=0.4, lr_schedule="step(at=110000, d=0.5)"),
             "for paper-mnist: G's learning rate 0.4 (4x D's 0.1), D's halved from update 110,000",
             _MNIST_RESULTS),
    Modifier("smooth-labels", dict(label_smoothing=0.2),
             "one-sided label smoothing: D's target for real examples 0.8 instead of 1",
             _MNIST_RESULTS),
    # Each objective after 2014 with its authors' customary optimiser (what their papers used).
    Modifier("lsgan", dict(objective="lsgan", optimizer="adam", lr_d=2e-4, lr_g=2e-4,
                           adam_beta1=0.5, adam_beta2=0.999, k=1),
             "LSGAN (Mao et al. 2017, a-b-c 0-1-1) with its Adam: lr 2e-4, beta1 0.5", _OBJECTIVES),
    Modifier("hinge", dict(objective="hinge", d_spectral_norm=True, optimizer="adam", lr_d=2e-4,
                           lr_g=2e-4, adam_beta1=0.5, adam_beta2=0.999, k=1),
             "hinge loss with a spectrally normalised D (SN-GAN, Miyato et al. 2018): Adam lr "
             "2e-4, betas (0.5, 0.999), one D step per G step", _OBJECTIVES),
    Modifier("wgan", dict(objective="wgan", wgan_clip=0.01, optimizer="rmsprop", lr_d=5e-5,
                          lr_g=5e-5, k=5),
             "WGAN (Arjovsky et al. 2017): weights clipped to [-0.01, 0.01], RMSprop lr 5e-5, "
             "5 critic steps per G step", _OBJECTIVES),
    Modifier("wgan-gp", dict(objective="wgan-gp", gp_lambda=10.0, optimizer="adam", lr_d=1e-4,
                             lr_g=1e-4, adam_beta1=0.0, adam_beta2=0.9, k=5),
             "WGAN-GP (Gulrajani et al. 2017): penalty weight 10, Adam lr 1e-4, betas (0, 0.9), "
             "5 critic steps per G step", _OBJECTIVES),
)

# --- preset records ---------------------------------------------------------------------------------

RECORDS: tuple[Preset, ...] = (
    Preset("digits", None, dict(dataset="digits"),
           "the paper's recipe (G 512x512, maxout D, momentum SGD, Algorithm 1) on scikit-learn's "
           "embedded 8x8 digits (no download); the default",
           "docs/paper.md"),
    # The schedule is the authors' code's simultaneous update: Algorithm 1 as printed lets D win
    # within ~10 epochs on this recipe (`--schedule alternating` runs it as printed).
    Preset("paper-mnist", None,
           dict(dataset="mnist", g_hidden=(1200, 1200), schedule="simultaneous", batch=100,
                steps=100_000, log_every=100, snapshot_every=5000),
           "the paper's MNIST model and optimiser exactly (maxout+dropout D, momentum SGD, "
           "authors' simultaneous update)",
           "docs/paper.md"),
    Preset("table1-mnist", "paper-mnist+ema+fast-g+smooth-labels", {},
           "our recipe for the paper's Table 1 MNIST score (Parzen LL 225): the paper's model with "
           "G learning faster than D, label smoothing and a weight average of G; each of the 5 "
           "seeds measured scored 225.7-234.7 within an hour on one CPU core (bf16)",
           _MNIST_RESULTS),
    Preset("paper-mnist-fast", "paper-mnist",
           dict(optimizer="adam", lr_d=2e-3, lr_g=2e-3, adam_beta1=0.5, adam_beta2=0.999,
                lr_decay=1.00004, lr_min=1e-5),
           "paper-mnist's networks and simultaneous update with Adam (lr 2e-3, beta1 0.5, divided "
           "by 1.00004 per step): a higher Parzen LL early on a CPU, not 225 within an hour",
           _MNIST_RESULTS),
    # Unstable beyond its stop: D wins again and the run collapses by 140,000 steps.
    Preset("paper-mnist-ema-g4", "paper-mnist+ema+fast-g", dict(steps=115_000),
           "table1-mnist's predecessor, without label smoothing and stopping at 115,000 steps: "
           "Parzen LL 225.1 for seed 0, ~220 for seeds 1 and 2",
           _MNIST_RESULTS),
    Preset("gauss1d", None, dict(_TOY, dataset="gauss1d", z_dim=1, z_dist="uniform"),
           "1-D Gaussian, z uniform (the setting of the paper's Figure 1)",
           "docs/paper.md"),
    # Figure 1's recipe (gankit.experiments.figure1's docstring says why each part is there).
    Preset("figure1-gauss", "gauss1d",
           dict(g_hidden=(32, 32), d_hidden=(64, 64), g_activation="elu", g_input="logit",
                lr_d=3e-3, lr_g=3e-4, k=2, steps=4000, lr_schedule="cosine(start=0.5, final=0.01)"),
           "the run drawn as Figure 1: N(2, 0.5^2) learned by small ELU MLPs through a logit input "
           "layer, D 10x faster than G, k 2, cosine annealing; ends at D = 1/2",
           "benchmarks/figure1_run.py"),
    Preset("figure1-mixture", "figure1-gauss", dict(dataset="mixture1d", steps=6000),
           "figure1-gauss on a two-Gaussian mixture (means 1.25 and 2.75, std 0.35), 6,000 steps",
           "benchmarks/figure1_run.py"),
    # Wider nets, lr_D = 4 lr_G, and a learning rate that ends 100x lower after `steps`.
    Preset("ring8", None,
           dict(_TOY, dataset="ring8", g_hidden=(256, 256), d_hidden=(256, 256), lr_d=4e-3,
                lr_g=1e-3, lr_decay=_DECAY_100X_30K, lr_min=1e-6, steps=30_000,
                snapshot_every=5000),
           "8 Gaussians on a ring (mode-collapse benchmark); G/D 256x256, lr_D 4e-3, lr_G 1e-3 "
           "decayed 100x over 30,000 steps",
           "benchmarks/results/mode_collapse_presets.md"),
    Preset("grid25", None,
           dict(_TOY, dataset="grid25", g_hidden=(256, 256, 256), d_hidden=(256, 256),
                lr_d=4e-3, lr_g=1e-3, r1_gamma=1.0, lr_decay=_DECAY_100X_60K, lr_min=1e-6,
                g_ema=0.999, steps=60_000, snapshot_every=10_000),
           "25 Gaussians on a 5x5 grid (mode-collapse benchmark); G 3x256, D 2x256, R1 1, lr_D "
           "4e-3, lr_G 1e-3 decayed 100x over 60,000 steps, G weight average 0.999",
           "benchmarks/results/mode_collapse_presets.md"),
    Preset("ring8-pacgan", None, dict(_TOY, dataset="ring8", **_PACGAN_TOY),
           "ring8 with PacGAN's networks (G 4x400 ReLU, D 3x200 maxout x5, Adam 1e-4, beta1 0.8, "
           "batch 100): the published protocol; about 5x slower than ring8",
           "docs/benchmarks.md"),
    Preset("grid25-pacgan", None, dict(_TOY, dataset="grid25", **_PACGAN_TOY),
           "grid25 with PacGAN's networks (G 4x400 ReLU, D 3x200 maxout x5, Adam 1e-4, beta1 0.8, "
           "batch 100): the published protocol; about 5x slower than grid25",
           "docs/benchmarks.md"),
    # MNIST at its own 28x28 (the conv nets start G from 7x7), width 32 to suit a CPU.
    Preset("dcgan-mnist", None, dict(_DCGAN, dataset="mnist", conv_width=32, steps=10_000),
           "DCGAN-style conv G and D (width 32) on MNIST 28x28, Adam 2e-4, beta1 0.5",
           "benchmarks/results/stacked_mnist.md"),
    Preset("dcgan-cifar10", None, dict(_DCGAN, dataset="cifar10", steps=20_000),
           "DCGAN-style conv G and D (width 64) on CIFAR-10 32x32 (binary version, downloaded "
           "once), Adam 2e-4, beta1 0.5; 0.7 s a step on one CPU core",
           _PRESET_NOTES),
    Preset("dcgan-folder", None,
           dict(_DCGAN, dataset="folder", image_size=64, image_channels="auto", steps=20_000),
           "DCGAN-style conv G and D (width 64) on your images (--data-dir DIR) at 64x64, Adam "
           "2e-4, beta1 0.5; for a GPU (3 s a step on one CPU core; --image-size 32 "
           "--conv-width 32: 0.2 s)",
           _PRESET_NOTES),
    # The paper's other models: what the paper does not restate is paper-mnist's recipe.
    # G's output is a sigmoid on [0, 1] pixels, not the paper's linear layer on GCN data.
    Preset("paper-cifar10-fc", "paper-mnist",
           dict(dataset="cifar10", z_dist="normal", g_hidden=(8000, 8000),
                g_activation="relu,sigmoid", d_hidden=(1600, 1600), lr_d=0.025, lr_g=0.025),
           "the paper's fully connected CIFAR-10 model (G 100-8000 ReLU-8000 sigmoid-3072, D "
           "maxout 1600x5 twice, lr 0.025, z normal) with paper-mnist's optimiser; G's output is "
           "a sigmoid on [0,1] pixels, not the paper's linear output on contrast-normalised data",
           "docs/paper.md"),
    Preset("paper-tfd", "paper-mnist",
           dict(dataset="tfd", z_dist="normal", g_hidden=(8000, 8000), g_activation="relu,sigmoid",
                d_hidden=(1200, 1200), d_max_col_norm=1.9365, lr_d=0.05, lr_g=0.05),
           "the paper's TFD model (G 100-8000 ReLU-8000 sigmoid-2304 sigmoid, D maxout 1200x5 "
           "twice, max column norm 1.9365, lr 0.05, z normal) on TFD_48x48.mat that you supply "
           "(--data-dir; TFD is not publicly downloadable)",
           "docs/paper.md"),
    # The paper's optimiser on gankit's conv nets: its own maxout-conv D is not built.
    Preset("paper-cifar10-conv", None,
           dict(_DCGAN, dataset="cifar10", optimizer="sgd", lr_d=0.004, lr_g=0.004,
                lr_decay=1.000004, schedule="simultaneous", batch=128, steps=100_000,
                log_every=100, snapshot_every=5000),
           "APPROXIMATION of the paper's conv CIFAR-10 model: its optimiser (SGD lr 0.004, batch "
           "128, momentum, decay, z normal) on gankit's DCGAN-style conv nets, not its maxout-conv "
           "D and 8000-unit G",
           "docs/paper.md"),
)

#: Old names, still accepted (config.json of older runs and checkpoints hold them): name -> expression.
ALIASES: Mapping[str, str] = MappingProxyType({
    "paper-mnist-ema": "paper-mnist+ema",
    "paper-mnist-ema-g4-ls": "table1-mnist",
})

_RECORDS = {r.name: r for r in RECORDS}
_MODIFIERS = {m.name: m for m in MODIFIERS}


def preset_values(expression: str) -> dict[str, Any]:
    """The config fields set by ``expression``: a preset or alias, then modifiers joined by ``+``.

    >>> preset_values("paper-mnist+ema")["g_ema"]
    0.9999
    """
    name, *modifiers = (part.strip() for part in str(expression).split("+"))
    if name in ALIASES:
        values = preset_values(ALIASES[name])
    elif name in _RECORDS:
        record = _RECORDS[name]
        values = {**(preset_values(record.base) if record.base else {}), **record.overrides}
    else:
        raise _unknown("preset", name, expression, [*_RECORDS, *ALIASES])
    for modifier in modifiers:
        if modifier not in _MODIFIERS:
            raise _unknown("preset modifier", modifier, expression, _MODIFIERS)
        values.update(_MODIFIERS[modifier].overrides)
    return values


def _unknown(kind: str, part: str, expression: str, choices) -> ConfigError:
    where = f" in '{expression}'" if part != expression else ""
    return ConfigError(unknown_name_message(kind, part, choices, where))
