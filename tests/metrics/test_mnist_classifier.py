"""gankit's MNIST classifier, its cache, the classifier-based metrics and Stacked MNIST, all on a
tiny synthetic "MNIST" (a bright block whose position is the class): no real MNIST needed."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.data.base import Dataset
from gankit.data.stacked_mnist import stack_digits, stacked_from_mnist, triple_mode
from gankit.errors import GankitError
from gankit.metrics import METRICS, evaluate
from gankit.metrics import mnist_classifier as mc
from gankit.metrics import mnist_eval


def blocks(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """[N, 1, 28, 28] images: noise in [0, 0.2] plus a 6x6 block at a place given by the class."""
    g = torch.Generator().manual_seed(seed)
    x = 0.2 * torch.rand(len(labels), 1, 28, 28, generator=g)
    for i, c in enumerate(labels.tolist()):
        r, col = 1 + 9 * (c // 4), 1 + 7 * (c % 4)
        x[i, 0, r:r + 6, col:col + 6] = 1.0
    return x


def synthetic_mnist(n_train: int = 400, n_test: int = 100) -> Dataset:
    y_train, y_test = torch.arange(n_train) % 10, torch.arange(n_test) % 10
    y_val = torch.arange(50) % 10
    return Dataset("mnist", train=blocks(y_train, 0), val=blocks(y_val, 1), test=blocks(y_test, 2),
                   labels={"train": y_train, "val": y_val, "test": y_test})


@pytest.fixture
def small_recipe(monkeypatch, tmp_path):
    """A two-epoch recipe (the default's object, so the cache key sees it) and a private cache."""
    monkeypatch.setitem(mc.RECIPE, "epochs", 2)
    monkeypatch.setitem(mc.RECIPE, "batch", 20)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))


@pytest.fixture
def data() -> Dataset:
    return synthetic_mnist()


def test_training_is_deterministic_and_learns(small_recipe, data):
    torch.manual_seed(123)
    a = mc.train_classifier(data.train, data.labels["train"])
    torch.manual_seed(456)  # the global seed does not matter
    b = mc.train_classifier(data.train, data.labels["train"])
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert mc.accuracy(a, data.test, data.labels["test"]) >= 0.95
    probs, feats = mc.predict(a, data.test.reshape(100, 784))  # flat input works too
    assert probs.shape == (100, 10) and feats.shape == (100, mc.FEATURE_DIM)
    torch.testing.assert_close(probs.sum(1), torch.ones(100))


def test_cache_round_trip(small_recipe, data, monkeypatch):
    model, key, info = mc.classifier_for(data, progress=False)
    path = mc.cache_folder() / f"classifier-{key}.safetensors"
    assert path.is_file() and info["test_accuracy"] >= 0.95
    monkeypatch.setattr(mc, "train_classifier", lambda *a, **k: pytest.fail("retrained"))
    again, key2, info2 = mc.classifier_for(data)
    assert key2 == key and info2["test_accuracy"] == info["test_accuracy"]
    torch.testing.assert_close(mc.predict(again, data.test)[0], mc.predict(model, data.test)[0])


def test_cache_key_follows_data_and_recipe(small_recipe, data, monkeypatch):
    key = mc.data_key(data.train, data.labels["train"])
    assert mc.data_key(data.train, data.labels["train"].roll(1)) != key
    assert mc.data_key(data.train[:-1], data.labels["train"][:-1]) != key
    monkeypatch.setitem(mc.RECIPE, "epochs", 3)
    assert mc.data_key(data.train, data.labels["train"]) != key


def test_damaged_cache_is_retrained(small_recipe, data):
    _, key, _ = mc.classifier_for(data, progress=False)
    path = mc.cache_folder() / f"classifier-{key}.safetensors"
    path.write_bytes(b"not a safetensors file")
    model, key2, _ = mc.classifier_for(data, progress=False)
    assert key2 == key and mc.accuracy(model, data.test, data.labels["test"]) >= 0.95


def test_cached_weights_are_used_only_with_their_checksum(small_recipe, data, monkeypatch):
    model, key, _ = mc.classifier_for(data, progress=False)
    path = mc.cache_folder() / f"classifier-{key}.safetensors"
    checksum = path.with_suffix(".sha256")
    assert checksum.read_text().strip() == mc.file_sha256(path)
    calls = []
    real_train = mc.train_classifier
    monkeypatch.setattr(mc, "train_classifier", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    # weights replaced by other, valid weights: the checksum no longer matches, so they are retrained
    from safetensors.torch import save_file

    other = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    save_file(other, str(path))
    again, _, _ = mc.classifier_for(data, progress=False)
    assert calls == [1] and mc.accuracy(again, data.test, data.labels["test"]) >= 0.95
    checksum.unlink()  # no checksum at all: retrained too
    mc.classifier_for(data, progress=False)
    assert calls == [1, 1] and checksum.is_file()


def test_real_data_scores_its_own_ceiling(small_recipe, data, monkeypatch):
    """Samples = the validation images, which are also the ceiling's images: the values coincide
    (the reference is the test set, held out like them)."""
    val = data.val
    sample = lambda n, seed: val[:n]  # noqa: E731
    v = mnist_eval.mnist_classes_metric(sample, data, n_samples=50)
    assert v["classes"] == v["real_classes"] and v["classes_argmax"] == 10
    assert v["confident_percent"] == pytest.approx(v["real_confident_percent"])
    assert v["kl"] == pytest.approx(v["real_kl"]) and v["kl"] == pytest.approx(0.0, abs=1e-3)
    assert v["is_mean"] == pytest.approx(v["real_is_mean"]) and v["is_mean"] > 3  # 5 per split
    assert v["kl_noise_floor"] == pytest.approx(9 / 100)
    v = mnist_eval.mnist_fd_metric(sample, data, n_samples=50)
    assert v["fd"] == pytest.approx(v["real_fd"])
    assert v["memorised"] == 0.0  # the threshold is calibrated on these very images
    v = mnist_eval.mnist_pr_metric(sample, data, n_samples=50)
    for k in ("precision", "recall", "density", "coverage"):
        assert v[k] == pytest.approx(v[f"real_{k}"])


def test_training_copies_are_flagged_not_rewarded(small_recipe, data):
    copies = data.train[:100]
    v = mnist_eval.mnist_pr_metric(lambda n, s: copies, data, n_samples=100)
    assert v["memorised"] == 1.0 and v["real_memorised"] < 0.1  # threshold from 50 images
    fd = mnist_eval.mnist_fd_metric(lambda n, s: copies, data, n_samples=100)
    assert fd["memorised"] == 1.0 and fd["fd"] > 0  # the reference is held out: no FD of 0
    assert mnist_eval.mnist_classes_metric(lambda n, s: copies, data, n_samples=100)["memorised"] == 1.0


def test_the_protocol_version_is_in_every_row(small_recipe, data):
    for name in ("mnist_classes10k", "mnist_fd10k", "mnist_pr10k"):
        (row,) = evaluate(data.val, [name], data=data)
        assert row["protocol"]["version"] == mnist_eval.PROTOCOL_VERSION == 2
        assert "memorised" in row


def test_a_collapsed_sample_is_caught(small_recipe, data):
    ones = data.test[data.labels["test"] == 1][:1].repeat(100, 1, 1, 1)
    v = mnist_eval.mnist_classes_metric(lambda n, s: ones, data, n_samples=100)
    assert v["classes"] == 1 and v["kl"] == pytest.approx(torch.log(torch.tensor(10.0)).item())
    assert v["is_mean"] == pytest.approx(1.0, abs=0.01)
    v = mnist_eval.mnist_pr_metric(lambda n, s: ones, data, n_samples=100)
    assert v["recall"] < 0.2 < v["real_recall"]
    fd = mnist_eval.mnist_fd_metric(lambda n, s: ones, data, n_samples=100)
    assert fd["fd"] > 10 * fd["real_fd"]


def test_registered_and_usable_through_evaluate(small_recipe, data):
    for name in ("mnist_classes10k", "mnist_fd10k", "mnist_pr10k", "stacked_modes26k"):
        assert name in METRICS
    (row,) = evaluate(data.test, ["mnist_classes10k"], data=data)
    assert row["metric"] == "mnist_classes10k" and row["classes_argmax"] == 10
    assert row["protocol"]["n_samples"] == 10_000


def test_wrong_inputs_are_gankit_errors(small_recipe, data):
    with pytest.raises(GankitError, match="MNIST"):
        mnist_eval.mnist_fd_metric(lambda n, s: data.test, Dataset("digits", torch.zeros(4, 1, 8, 8)))
    with pytest.raises(GankitError, match="28x28"):
        mnist_eval.mnist_fd_metric(lambda n, s: torch.zeros(10, 64), data)
    with pytest.raises(GankitError, match="NaN"):
        mnist_eval.mnist_fd_metric(lambda n, s: torch.full((10, 784), float("nan")), data)


# --- Stacked MNIST --------------------------------------------------------------------------------

def test_stack_digits():
    images = torch.arange(5.0).reshape(5, 1, 1, 1).expand(5, 1, 28, 28)
    labels = torch.tensor([0, 1, 2, 3, 4])
    x, digits = stack_digits(images, labels, 50, torch.Generator().manual_seed(0))
    assert x.shape == (50, 3, 28, 28) and digits.shape == (50, 3)
    torch.testing.assert_close(x[:, :, 0, 0], digits.float())  # each channel is its digit's image
    assert triple_mode(torch.tensor([[1, 2, 3], [0, 0, 9]])).tolist() == [123, 9]


def test_stacked_dataset_is_deterministic(data):
    sizes = {"train": 30, "val": 10, "test": 20}
    a, b = stacked_from_mnist(data, sizes), stacked_from_mnist(data, sizes)
    assert a.name == "stacked_mnist" and a.sample_shape == (3, 28, 28) and a.mnist is data
    assert torch.equal(a.train, b.train) and torch.equal(a.labels["test"], b.labels["test"])
    assert torch.equal(a.labels["train"], triple_mode(a.digits["train"]))


def test_stacked_modes_metric(small_recipe, data, monkeypatch):
    monkeypatch.setattr(mnist_eval, "N_STACKED", 400)
    stacked = stacked_from_mnist(data, {"train": 10, "val": 10, "test": 400})
    v = mnist_eval.stacked_modes_metric(lambda n, s: stacked.test[:n], stacked, n_samples=400)
    # the classifier is right on these images: the modes are the true triples'
    assert v["modes"] == len(set(stacked.labels["test"].tolist()))
    assert v["kl_noise_floor"] == pytest.approx(999 / 800)
    assert v["real_modes"] > 300 and v["n"] == 400
    same = stacked.test[:1].repeat(400, 1, 1, 1)
    v = mnist_eval.stacked_modes_metric(lambda n, s: same, stacked, n_samples=400)
    assert v["modes"] == 1 and v["kl"] == pytest.approx(torch.log(torch.tensor(1000.0)).item(), rel=1e-6)


def test_stacked_kl_is_split_into_favoured_digits_and_unclear_ones(monkeypatch):
    """kl_channels: a channel fixed to one digit contributes log 10, a balanced one 0; unsure_percent:
    the stacks with a channel read below 0.9 confidence. The classifier is replaced by one that
    reads the digit from pixel (0, 0) and its confidence from pixel (0, 1)."""
    def predict(model, x):
        digit, confidence = (x[:, 0, 0, 0] * 10).long(), x[:, 0, 0, 1]
        probs = torch.full((len(x), 10), 0.0)
        probs[torch.arange(len(x)), digit] = confidence
        return probs, None

    monkeypatch.setattr(mnist_eval, "predict", predict)
    x = torch.zeros(1000, 3, 28, 28)
    x[:, :, 0, 1] = 1.0
    for c, step in enumerate((1, 10, 100)):  # every triple once: a perfect stack
        x[:, c, 0, 0] = ((torch.arange(1000) // step) % 10 + 0.5) / 10
    fair = mnist_eval.stacked_mode_stats(None, x)
    assert (fair["modes"], fair["kl"], fair["kl_channels"], fair["unsure_percent"]) == (1000, 0, 0, 0)
    x[:, 0, 0, 0] = 0.75  # channel 0 always reads 7
    x[:250, 2, 0, 1] = 0.6  # a quarter of the stacks have an unclear third digit
    v = mnist_eval.stacked_mode_stats(None, x)
    assert v["modes"] == 100 and v["kl"] == pytest.approx(math.log(10))
    assert v["kl_channels"] == pytest.approx(math.log(10)) and v["unsure_percent"] == pytest.approx(25)
