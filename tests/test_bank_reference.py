"""The PyTorch reference of every mode (edgedg.reference) on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgedg.models import create_model
from edgedg.norm import StatNorm2d
from edgedg.reference import Reference, preprocess, source_stats_of
from edgedg_runtime.bank import BankOptions
from edgedg_runtime.errors import FrameError

META = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def _randomise_running_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, StatNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


def _tiny(head: str = "fcn") -> nn.Module:
    torch.manual_seed(0)
    return _randomise_running_stats(create_model("tiny", num_classes=5, head=head))


class OneNorm(nn.Module):
    """stem conv -> one norm layer -> 1x1 classifier: the network where `sib` is exact."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = StatNorm2d(8)
        self.cls = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls(torch.relu(self.bn(self.stem(x))))


def _frames(n: int, seed: int = 0, shape: tuple[int, int] = (32, 48)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.uniform(30, 220, size=3)
        out.append(rng.normal(base, rng.uniform(5, 50), shape + (3,)).clip(0, 255))
    return [x.astype(np.uint8) for x in out]


def test_source_mode_equals_plain_batchnorm():
    model = _tiny()
    frame = _frames(1)[0]
    out = Reference(model, META, "source")(frame)
    with torch.no_grad():
        plain = model(preprocess(frame[None], META["mean"], META["std"]))
    np.testing.assert_allclose(out["logits"], plain.numpy(), atol=1e-4)
    assert out["labels"].shape == (1, 32, 48) and out["labels"].dtype == np.uint8


def test_style_is_the_first_norm_layers_frame_statistics():
    model = _tiny()
    frame = _frames(1, seed=3)[0]
    ref = Reference(model, META, "target")
    style = ref.style_fn(frame[None])[0]
    out, info = ref.segment_frame(frame)
    c = style.shape[1]
    assert c == model.style_channels
    np.testing.assert_allclose(style, out["frame_stats"][:, :c], rtol=1e-4, atol=1e-5)
    assert info.shift_score > 0


@pytest.mark.parametrize("head", ["fcn", "aspp"])
def test_target_on_a_batch_equals_sib_exact(head):
    model = _tiny(head)
    frames = _frames(4, seed=1)
    exact = Reference(model, META, "sib-exact", BankOptions(m=4))
    for frame in frames[:3]:
        exact(frame)
    chosen = exact.bank.select(exact.style_fn(frames[3][None])[0])
    out, info = exact.segment_frame(frames[3])
    assert info.k == 3
    batch = np.stack([frames[3]] + [frames[i] for i in chosen.tolist()])
    target = Reference(model, META, "target")(batch)
    np.testing.assert_allclose(target["logits"][:1], out["logits"], atol=1e-4)
    np.testing.assert_array_equal(target["labels"][:1], out["labels"])


def test_sib_equals_sib_exact_with_one_norm_layer():
    model = _randomise_running_stats(OneNorm())
    sib, exact = Reference(model, META, "sib"), Reference(model, META, "sib-exact")
    for i, frame in enumerate(_frames(6, seed=2)):
        a, info_a = sib.segment_frame(frame)
        b, info_b = exact.segment_frame(frame)
        assert info_a.k == info_b.k == min(3, i)
        np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-4)


def test_fixed_layers_keep_the_source_statistics():
    model = _tiny("aspp")
    source = source_stats_of(model)
    assert source.fixed_mask.any() and not source.fixed_mask.all()
    ref = Reference(model, META, "sib")
    for frame in _frames(3, seed=4):
        ref(frame)
    prior = ref.bank.prior(ref.bank.select(ref.style_fn(_frames(1, seed=5)[0][None])[0]))
    np.testing.assert_array_equal(prior[:2, source.fixed_mask], source.stats[:, source.fixed_mask])
    assert np.all(prior[2, source.fixed_mask] == 0) and np.all(prior[2, ~source.fixed_mask] == 0.25)


def test_bad_frames_are_refused():
    ref = Reference(_tiny(), META, "sib")
    with pytest.raises(FrameError, match="uint8"):
        ref(np.zeros((32, 48, 3), np.float32))
    with pytest.raises(FrameError, match="3 channels"):
        ref(np.zeros((32, 48, 4), np.uint8))


@pytest.mark.gpu
def test_reference_on_cuda_agrees_with_cpu():
    """`edgedg eval` and `edgedg check` run the reference on the GPU when there is one: sib over
    a few frames gives the labels of the CPU run (random weights: near-ties, hence >= 99%)."""
    if not torch.cuda.is_available():
        pytest.skip("this torch has no CUDA")
    import copy

    model = _tiny()
    cpu = Reference(model, META, "sib")
    gpu = Reference(copy.deepcopy(model).cuda(), META, "sib")
    for frame in _frames(6, seed=7):
        a, b = cpu(frame), gpu(frame)
        assert float(np.mean(a["labels"] == b["labels"])) >= 0.99
        np.testing.assert_allclose(a["frame_stats"], b["frame_stats"], rtol=1e-3, atol=1e-3)
