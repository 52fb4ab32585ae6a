"""One configuration object per run: every default lives here, once.

Over 400 lines on purpose: it is the one list of every field with its default, its help text and its
check (the CLI's flags are built from it), which is the point of having a single config.

Resolution order (later wins): the dataclass defaults < a preset (a record of presets.py, maybe
with modifiers: ``paper-mnist+ema``) < a config file (TOML/YAML) < explicit overrides (CLI flags or
keyword arguments). The resolved config is saved as ``config.json`` in the run folder and inside
every checkpoint, so a run can always be explained and repeated. The CLI builds its flags from the
fields below and their ``help`` metadata.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from gankit.errors import ConfigError
from gankit.lr_schedule import LR_EXAMPLE, parse_lr_schedule
from gankit.presets import RECORDS, preset_values
from gankit.utils.registry import unknown_name_message

SCHEDULES = ("alternating", "simultaneous")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
Z_DISTS = ("uniform", "normal")
DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("fp32", "bf16")
G_ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")
IMAGE_CHANNELS = ("auto", "gray", "rgb")
IMAGE_ALPHA = ("white", "black", "skip")
G_INPUTS = ("z", "logit")

# --- bounds: every numeric field is bounded, so no value overflows or asks for absurd memory ------
#: Widths and depths of the MLPs (the paper's largest: 8000 units, CIFAR-10's G).
MAX_WIDTH = 65_536
MAX_LAYERS = 64
#: Seeds: torch takes 64-bit seeds and gankit adds small offsets (seed + 3, per-rank offsets).
MAX_SEED = 2**62
MAX_LR_DECAY = 1.1  # 1.1: the rate falls 10^4-fold in 100 steps; the paper: 1.000004
MAX_INIT_RANGE = 100.0
#: (lowest, highest) of every integer field.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "image_size": (4, 1024), "z_dim": (1, 65_536), "conv_width": (1, 4096),
    "d_conv_width": (0, 4096),
    "d_maxout_pieces": (0, 64), "k": (1, 10_000), "batch": (1, 1_048_576), "steps": (1, 10**12),
    "pack": (1, 1024), "minibatch_features": (0, 4096), "momentum_ramp_epochs": (0, 10**9),
    "seed": (0, MAX_SEED), "log_every": (1, 10**12), "snapshot_every": (1, 10**12),
    "keep_checkpoints": (1, 10**6), "grid_size": (1, 10_000), "threads": (0, 4096),
    "dist_timeout": (1, 10**7),
}
INT_EXAMPLES = {"image_size": 64, "z_dim": 100, "conv_width": 64, "batch": 64, "grid_size": 100,
                "steps": 6000, "seed": 0, "dist_timeout": 120}


def _f(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field whose help text feeds the CLI (so defaults are written once)."""
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class Config:
    """Everything that defines a run. Build with :func:`resolve_config`, not by hand.

    The defaults are the paper's values (its MNIST model and the authors' mnist.yaml: see
    docs/paper.md) where the paper gives one; a field's help says so where the default is not.
    """

    # --- what to learn -------------------------------------------------------------------------
    preset: str = _f("digits", "named starting point, optionally with modifiers: "
                               "PRESET+MODIFIER+... (see `gankit presets`)")
    dataset: str = _f("digits", "dataset name: digits (embedded), mnist, cifar10, folder (your "
                                "images, --data-dir), tfd (your TFD_48x48.mat, --data-dir), "
                                "stacked_mnist, gauss1d, mixture1d, ring8, grid25")
    data_dir: str | None = _f(None, "folder holding the dataset files (mnist: IDX files); "
                                    "default: download into the cache")
    image_size: int = _f(32, "folder dataset: resize (shorter side) and centre-crop images to this "
                             "many pixels square")
    image_channels: str = _f("auto", "folder dataset: gray, rgb, or auto (what most images are)")
    image_alpha: str = _f("white", "folder dataset: what transparent pixels become: white or "
                                   "black (composited over it), or skip (leave such images out)")

    # --- the networks (Section 3 of the paper: G and D are multilayer perceptrons) -------------
    z_dim: int = _f(100, "dimension of the noise z")
    z_dist: str = _f("uniform", "noise prior p_z: uniform (U(-sqrt3, sqrt3), unit variance) or normal")
    g_hidden: tuple = _f((512, 512), "generator hidden widths, comma-separated (the paper's "
                                     "MNIST G: 1200,1200)")
    g_activation: str = _f("relu", "G's hidden activation: relu, leaky_relu, elu, tanh or "
                                   "sigmoid; or one per hidden layer, comma-separated "
                                   "(e.g. relu,sigmoid)")
    g_input: str = _f("z", "G's first layer: z (the MLP sees z) or logit (a fixed map "
                           "z -> sqrt(3)/pi logit((z + sqrt 3)/(2 sqrt 3)) of uniform z, "
                           "unbounded like a Gaussian's tails: Figure 1's recipe)")
    g_batchnorm: bool = _f(False, "BatchNorm in G's hidden layers after the first (PyTorch-GAN's MLP)")
    d_hidden: tuple = _f((240, 240), "discriminator hidden widths, comma-separated")
    arch: str = _f("mlp", "network family: mlp (the paper's; g_hidden, d_hidden, maxout, dropout) or "
                          "conv (DCGAN-style, for images of 2^n x 4 or 2^n x 7 pixels: 28, 32, 64, 128)")
    conv_width: int = _f(64, "conv arch: channels of G's last and D's first conv layer, doubled "
                             "at each lower resolution")
    d_conv_width: int = _f(0, "conv arch: channels of D's first conv layer, doubled at each lower "
                              "resolution; 0 = conv_width (the hard Stacked MNIST setting of "
                              "Metz et al. 2017 gives D 1/4 of G's)")
    d_maxout_pieces: int = _f(5, "maxout pieces per discriminator unit; 0 = LeakyReLU(0.2)")
    d_dropout_input: float = _f(0.2, "dropout probability on D's input (0.2: keep 0.8)")
    d_dropout_hidden: float = _f(0.5, "dropout probability before D's later layers")
    d_spectral_norm: bool = _f(False, "spectral normalisation of every linear and conv layer of D "
                                      "(Miyato et al. 2018, PyTorch's parametrization): D is "
                                      "1-Lipschitz per layer")
    d_max_col_norm: float = _f(0.0, "after every D update, scale each unit's incoming weight "
                                    "vector (D's linear layers) to norm <= this (pylearn2's "
                                    "max_col_norm; paper's TFD: 1.9365); 0 = off")
    g_init_range: float = _f(0.05, "init G weights U(-r, r); 0 = PyTorch default")
    d_init_range: float = _f(0.005, "init D weights U(-r, r); 0 = PyTorch default")
    g_output_bias_from_data: bool = _f(True, "set G's output bias to logit(mean training pixel) "
                                              "(the authors' code)")

    # --- Algorithm 1 ---------------------------------------------------------------------------
    objective: str = _f("gan", "the game's value function: gan (the paper's Eq. 1), lsgan (least "
                               "squares), hinge, wgan (weight clipping) or wgan-gp (gradient "
                               "penalty); each's customary settings: the presets' modifiers "
                               "(`gankit presets`)")
    g_loss: str = _f("nonsaturating", "generator loss: nonsaturating (the objective's usual one; "
                                      "gan: -log D(G(z)), the paper's advice) or minimax (gan "
                                      "only: log(1 - D(G(z))), Eq. 1)")
    schedule: str = _f("alternating", "alternating (Algorithm 1 as printed: k D steps, then a G "
                                      "step on fresh noise) or simultaneous (the authors' code: "
                                      "one forward pass)")
    k: int = _f(1, "discriminator steps per generator step (Algorithm 1's k)")
    batch: int = _f(64, "minibatch size m (real and fake examples per D step; the paper's "
                        "MNIST: 100)")
    steps: int = _f(6000, "total number of generator steps (training iterations)")

    # --- remedies for non-convergence and mode collapse (docs/benchmarks.md section 4) --------
    pack: int = _f(1, "PacGAN: D judges this many samples at once (1 = off; the batch must divide)")
    r1_gamma: float = _f(0.0, "R1 penalty weight: (gamma/2) E||grad D(x_real)||^2 in D's loss")
    r2_gamma: float = _f(0.0, "R2 penalty weight: the same on fake samples")
    instance_noise: float = _f(0.0, "std of Gaussian noise on D's inputs, annealed linearly to 0")
    label_smoothing: float = _f(0.0, "one-sided label smoothing: D's target for real examples is "
                                     "1 - this (Salimans et al. 2016: 0.1); 0 = the paper")
    minibatch_features: int = _f(0, "minibatch discrimination features in D (0 = off)")
    wgan_clip: float = _f(0.01, "wgan: clip every weight of the critic to [-c, c] after each "
                                "update (Arjovsky et al. 2017: 0.01)")
    gp_lambda: float = _f(10.0, "wgan-gp: weight of the gradient penalty (Gulrajani et al. 2017: 10)")
    g_ema: float = _f(0.0, "keep an exponential moving average of G's weights with this decay "
                           "(e.g. 0.999) and sample from it; 0 = off")

    # --- optimisers ----------------------------------------------------------------------------
    optimizer: str = _f("sgd", "adam, sgd (momentum SGD, the paper's) or rmsprop (WGAN's)")
    lr_d: float = _f(0.1, "discriminator learning rate")
    lr_g: float = _f(0.1, "generator learning rate")
    adam_beta1: float = _f(0.5, "Adam beta1")
    adam_beta2: float = _f(0.999, "Adam beta2")
    momentum: float = _f(0.5, "SGD momentum at the start")
    momentum_final: float = _f(0.7, "SGD momentum reached linearly at momentum_ramp_epochs")
    momentum_ramp_epochs: int = _f(250, "epochs over which momentum ramps to momentum_final")
    lr_decay: float = _f(1.000004, "divide the learning rates by this after every step")
    lr_min: float = _f(1e-6, "floor of the decayed learning rate")
    lr_schedule: str = _f("constant", "multiplier of the decayed learning rates, pieces joined by "
                                      "'+': constant; step(at=N, d=X, g=X): from update N on, D's "
                                      "lr times d and G's times g (each 1 if not given); "
                                      "cosine(start=S, final=F): 1 until fraction S of the steps, "
                                      "then a cosine down to F at the last step")

    # --- bookkeeping ---------------------------------------------------------------------------
    seed: int = _f(0, "random seed (same seed, same run)")
    log_every: int = _f(50, "write a line to stats.jsonl every this many steps")
    loggers: str = _f("", "further loggers of each logged row, comma-separated names (see "
                          "gankit.engine.callbacks.LOGGERS); stats.jsonl and the progress bar "
                          "are always on")
    snapshot_every: int = _f(1000, "sample grid and checkpoint every this many steps")
    keep_checkpoints: int = _f(3, "how many step checkpoints to keep (the latest is always kept)")
    grid_size: int = _f(100, "number of fixed-noise samples in each snapshot grid")
    runs_dir: str = _f("runs", "folder where numbered run folders are created")
    threads: int = _f(0, "CPU threads for torch; 0 = automatic")
    device: str = _f("auto", "cpu, cuda or auto (cuda when a GPU is available)")
    precision: str = _f("fp32", "fp32, or bf16 autocast for the networks (losses stay float32)")
    cuda_graph: bool = _f(False, "GPU only: replay each training iteration as one CUDA graph "
                          "(dropout masks then come from the GPU's shared stream)")
    dist_timeout: int = _f(120, "seconds a distributed collective may wait (e.g. for a dead rank) "
                                "before the job fails")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @property
    def run_tag(self) -> str:
        """Short description used in run-folder names, e.g. ``digits-ns-k1``."""
        loss = {"nonsaturating": "ns", "minimax": "mm"}.get(self.g_loss, self.g_loss)
        if self.objective != "gan":  # another game: its name says it (G's loss is its own)
            loss = self.objective + ("-sn" if self.d_spectral_norm else "")
        tag = f"{self.dataset}-{loss}-k{self.k}"
        return tag + ("-sim" if self.schedule == "simultaneous" else "")

    def validate(self) -> "Config":
        """Raise :class:`ConfigError` naming the first impossible value; return self if fine."""
        preset_values(self.preset)  # a ConfigError naming the unknown part, if any
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("z_dist", self.z_dist, Z_DISTS)
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("g_input", self.g_input, G_INPUTS)
        if self.g_input == "logit" and self.z_dist != "uniform":
            raise ConfigError(f"g_input logit maps uniform noise; it needs z_dist uniform (got "
                              f"{self.z_dist}): pass --z-dist uniform or --g-input z")
        parse_lr_schedule(self.lr_schedule)
        activations = [a.strip() for a in str(self.g_activation).split(",")]
        for name in activations:
            _choice("g_activation", name, G_ACTIVATIONS)
        if self.arch == "mlp" and len(activations) not in (1, len(self.g_hidden)):
            raise ConfigError(f"g_activation lists {len(activations)} activations "
                              f"({self.g_activation}) but g_hidden has {len(self.g_hidden)} "
                              f"layers; give one name, or one per hidden layer")
        _choice("image_channels", self.image_channels, IMAGE_CHANNELS)
        _choice("image_alpha", self.image_alpha, IMAGE_ALPHA)
        for name, (low, high) in INT_BOUNDS.items():  # every integer field, so nothing overflows
            v = getattr(self, name)
            if not (isinstance(v, int) and low <= v <= high):
                if name == "image_size":
                    bound = f"between {low} and {high} pixels"
                elif isinstance(v, int) and v < low:
                    bound = "at least 1" if low == 1 else "0 or more"
                else:
                    bound = f"a whole number from {low} to {high:,}"
                raise ConfigError(f"{name} must be {bound} (got {_short(v)}); pass e.g. "
                                  f"--{_flag(name)} {INT_EXAMPLES.get(name, max(low, 1))}")
        for f in fields(self):  # every float field is a finite number (no inf, no nan)
            v = getattr(self, f.name)
            if type(getattr(_DEFAULTS, f.name, None)) is float and not (
                    isinstance(v, (int, float)) and math.isfinite(v)):
                raise ConfigError(f"{f.name} must be a finite number (got {v}); pass "
                                  f"--{_flag(f.name)} with a number")
        if self.pack < 1 or self.batch % self.pack:
            raise ConfigError(f"pack must be >= 1 and divide the batch (got pack {self.pack}, "
                              f"batch {self.batch})")
        for name in ("r1_gamma", "r2_gamma", "instance_noise", "d_max_col_norm", "gp_lambda"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a number >= 0 (got {v})")
        if not 0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"label_smoothing must be in [0, 0.5) (got {self.label_smoothing}); "
                              "0.1 is the usual value, 0 turns it off")
        if not self.wgan_clip > 0:
            raise ConfigError(f"wgan_clip must be a positive number (got {self.wgan_clip}); pass "
                              f"e.g. --wgan-clip 0.01")
        if self.d_maxout_pieces == 1:
            raise ConfigError("d_maxout_pieces = 1 is a plain linear layer; use 0 (LeakyReLU) or >= 2")
        bad_lr = [name for name in ("lr_d", "lr_g") if not getattr(self, name) > 0]
        if bad_lr:  # name the flag the user gave: --lr sets both
            if len(bad_lr) == 2 and self.lr_d == self.lr_g:
                raise ConfigError(f"the learning rates must be positive numbers (got {self.lr_d}); "
                                  f"pass e.g. --lr 2e-4 (both), or --lr-d and --lr-g")
            name = bad_lr[0]
            raise ConfigError(f"{name} must be a positive number (got {getattr(self, name)}); "
                              f"pass e.g. --{_flag(name)} 2e-4")
        if not 1.0 <= self.lr_decay <= MAX_LR_DECAY:
            raise ConfigError(f"lr_decay divides the learning rates after every step: use 1 <= "
                              f"lr_decay <= {MAX_LR_DECAY} (got {self.lr_decay}; the paper's: "
                              f"1.000004, 1 = off); pass e.g. --lr-decay 1.000004")
        if not self.lr_min >= 0:
            raise ConfigError(f"lr_min must be >= 0 (got {self.lr_min}); pass e.g. --lr-min 1e-6")
        for name in ("d_dropout_input", "d_dropout_hidden"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} is a probability of dropping a unit: use 0 <= p < 1 "
                                  f"(got {getattr(self, name)})")
        for name in ("momentum", "momentum_final", "adam_beta1", "adam_beta2", "g_ema"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1) (got {getattr(self, name)})")
        for name in ("g_init_range", "d_init_range"):
            if not 0 <= getattr(self, name) <= MAX_INIT_RANGE:
                raise ConfigError(f"{name} must be from 0 to {MAX_INIT_RANGE} (got "
                                  f"{getattr(self, name)}); pass e.g. --{_flag(name)} 0.05 "
                                  f"(0 = PyTorch's default)")
        for name in ("g_hidden", "d_hidden"):
            widths = getattr(self, name)
            if (not isinstance(widths, tuple) or not 1 <= len(widths) <= MAX_LAYERS
                    or not all(isinstance(w, int) and 1 <= w <= MAX_WIDTH for w in widths)):
                raise ConfigError(f"{name} must list 1 to {MAX_LAYERS} widths from 1 to "
                                  f"{MAX_WIDTH:,}, e.g. 256,256 (got {_short(widths)})")
        return self


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _choice(name: str, value: Any, allowed: Any) -> None:
    if value in allowed:
        return
    raise ConfigError(unknown_name_message(name, _short(value) if not isinstance(value, str)
                                           else value[:60], allowed))


# --- presets: records in presets.py ----------------------------------------------------------------

#: Canonical preset name -> every field it sets (its base's and modifiers' included); no aliases.
PRESETS: dict[str, dict[str, Any]] = {r.name: preset_values(r.name) for r in RECORDS}
PRESET_DESCRIPTIONS: dict[str, str] = {r.name: r.description for r in RECORDS}

#: A step count that means "until stopped" (a time budget, Ctrl-C): progress shows no total.
STEPS_UNBOUNDED = 10**9


# --- resolution ------------------------------------------------------------------------------------

FIELD_NAMES = tuple(f.name for f in fields(Config))
_DEFAULTS = Config()


def coerce(name: str, value: Any) -> Any:
    """Convert a value from JSON/TOML/YAML/the command line to the field's type."""
    kind = _kind(name)
    if value is None:
        if name == "data_dir":
            return None
        raise ConfigError(f"{name} cannot be empty")
    try:
        if kind is tuple:
            if isinstance(value, str):
                value = [v for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)) or len(value) > 4096:  # validate() bounds it
                raise ValueError(value)
            return tuple(_whole(v) for v in value)
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int:
            return _whole(value)
        if kind is float:
            if not isinstance(value, (str, int, float)):
                raise TypeError(value)
            return float(value)
        if not isinstance(value, (str, int, float)):  # e.g. a list or a table where a name goes
            raise TypeError(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise ConfigError(f"{name} expects {kind.__name__ if kind is not tuple else 'a list of integers'}"
                          f", got {_short(value)}") from None


def _whole(value: Any) -> int:
    """An integer from an int, a whole float or a decimal string (never a list, a table, or a
    string of thousands of digits)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(value)
    if isinstance(value, str) and len(value) > 40:
        raise ValueError(value)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def _kind(name: str) -> type:
    return str if name == "data_dir" else type(getattr(_DEFAULTS, name))


def resolve_config(preset: str | None = None, file: str | Path | None = None,
                   **overrides: Any) -> Config:
    """Build a validated :class:`Config`: defaults < preset < config file < overrides.

    >>> resolve_config("paper-mnist", steps=1000).optimizer
    'sgd'
    """
    from_file = load_config_file(file) if file is not None else {}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    name = overrides.get("preset") or preset or from_file.get("preset") or Config.preset
    values: dict[str, Any] = {**preset_values(name), **from_file, **overrides, "preset": name}
    values = _translate_legacy(values, given={**from_file, **overrides})
    for key in values:
        if key not in FIELD_NAMES:
            _unknown_key(key)
    return Config(**{k: coerce(k, v) for k, v in values.items()}).validate()


#: Replaced by lr_schedule; config.json files of older runs and checkpoints still hold them.
LEGACY_LR_FIELDS = ("lr_late_step", "lr_d_late", "lr_g_late")


def _translate_legacy(values: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the old second phase (from update lr_late_step on, lr_d_late / lr_g_late instead of
    lr_d / lr_g, 0 = unchanged) by the lr_schedule that gives the same rates: d = lr_d_late / lr_d."""
    old = {k: values.pop(k) for k in LEGACY_LR_FIELDS if k in values}
    if not old:
        return values
    if "lr_schedule" in given:
        raise ConfigError(f"lr_schedule replaces {', '.join(old)}: give only lr_schedule, "
                          f"{LR_EXAMPLE}")
    try:
        at = int(old.get("lr_late_step", 0))
        late = {p: float(old.get(f"lr_{p}_late", 0.0)) for p in "dg"}
        lr = {p: float(values.get(f"lr_{p}", getattr(_DEFAULTS, f"lr_{p}"))) for p in "dg"}
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"lr_late_step, lr_d_late and lr_g_late must be numbers (got "
                          f"{_short(old)})") from None
    if at < 0 or min(late.values()) < 0 or not all(map(math.isfinite, [*late.values(), *lr.values()])):
        raise ConfigError(f"lr_late_step, lr_d_late and lr_g_late must be >= 0 (got {_short(old)})")
    factors = [f"{p}={late[p] / lr[p]!r}" for p in "dg" if late[p] > 0]
    values["lr_schedule"] = f"step(at={at}, {', '.join(factors)})" if at and factors else "constant"
    return values


def _unknown_key(key: str) -> None:
    near = difflib.get_close_matches(key, FIELD_NAMES, n=1)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise ConfigError(f"unknown config key '{key}'{hint} (see `gankit train --dry-run` for all keys)")


def config_from_dict(d: Mapping[str, Any]) -> Config:
    """Rebuild a Config saved as config.json (e.g. from a checkpoint), older ones included."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"a config must be a table of keys (like config.json), not "
                          f"{type(d).__name__}")
    d = _translate_legacy(dict(d), given=d)
    for key in d:
        if key not in FIELD_NAMES:
            _unknown_key(key)
    return Config(**{k: coerce(k, v) for k, v in d.items()}).validate()


#: A config file is a few dozen keys; anything larger is refused before it is parsed.
MAX_CONFIG_FILE_BYTES = 1 << 20


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (.toml) or YAML (.yaml/.yml) or JSON file of config keys.

    Bounded: at most :data:`MAX_CONFIG_FILE_BYTES`, and YAML without aliases (a 453-byte
    "billion laughs" file expands to gigabytes through nested aliases; config.json's keys never
    need one).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; check the path given to --config")
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_FILE_BYTES + 1)
        if len(raw) > MAX_CONFIG_FILE_BYTES:
            raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_FILE_BYTES >> 20} MB; "
                              f"a config holds a few dozen keys (see `gankit train --dry-run`)")
        text = raw.decode("utf-8")
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python < 3.11
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = _load_yaml(text, path) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    except ConfigError:
        raise
    except Exception as e:  # parse errors of any of the three formats
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"cannot parse config file {path}: {msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of keys (like config.json)")
    return data


def _load_yaml(text: str, path: Path) -> Any:
    """yaml.safe_load (never constructs Python objects) that refuses aliases (``*name``): with
    them a tiny file can expand to gigabytes ("billion laughs")."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):  # type: ignore[override]
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise ConfigError(f"config file {path} uses a YAML alias (*{event.anchor}, line "
                                  f"{event.start_mark.line + 1}); gankit refuses aliases (they can "
                                  f"expand a small file to gigabytes): write the values out")
            return super().compose_node(parent, index)

    loader = NoAliasLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
