"""Model structure: registries, norm-layer order == execution order, layer counts, pretrained."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgedg.model_names import BACKBONE_NAMES, HEAD_NAMES
from edgedg.models import BACKBONES, HEADS, create_model
from edgedg.norm import StatNorm2d, norm_layers, stat_layout
from edgedg_runtime.errors import CheckpointError, EdgeDGError


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_norm_registration_order_is_execution_order(name: str, head: str) -> None:
    model = create_model(name, num_classes=5, head=head).eval()
    ran: list[str] = []
    names = {m: n for n, m in norm_layers(model)}
    hooks = [m.register_forward_hook(lambda mod, i, o: ran.append(names[mod])) for m in names]
    with torch.no_grad():
        out = model(torch.randn(1, 3, 40, 56))
    for h in hooks:
        h.remove()
    assert ran == [n for n, _ in norm_layers(model)]
    assert out.shape == (1, 5, 40, 56)


def test_every_norm_is_statnorm() -> None:
    for head in HEADS:
        model = create_model("resnet18", head=head)
        plain = [
            n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        assert plain == [n for n, _ in norm_layers(model)]
        assert all(type(m) is StatNorm2d for _, m in norm_layers(model))


def test_resnet50_fcn_layer_count() -> None:
    with torch.device("meta"):
        model = create_model("resnet50")
    layout = stat_layout(model)
    assert len(layout.layers) == 54
    # 53 layers / 26,560 channels in the trunk, plus the FCN head's 512-channel norm.
    trunk = [x for x in layout.layers if x.name.startswith("backbone.")]
    assert len(trunk) == 53 and sum(x.channels for x in trunk) == 26_560
    assert layout.total == 27_072
    assert layout.layers[0].name == "backbone.bn1" and model.style_channels == 64


def test_aspp_pool_branch_is_fixed() -> None:
    layout = stat_layout(create_model("tiny", head="aspp"))
    fixed = [x.name for x in layout.layers if x.fixed]
    assert fixed == ["head.branches.4.conv.1"]


@pytest.mark.parametrize("os_, expect", [(8, 8), (16, 16)])
def test_output_stride(os_: int, expect: int) -> None:
    model = create_model("resnet18", output_stride=os_).eval()
    with torch.no_grad():
        feat = model.backbone(torch.randn(1, 3, 64, 64))
    assert feat.shape[-1] == 64 // expect and feat.shape[1] == model.backbone.out_channels


def test_forward_shape_odd_size_and_config() -> None:
    model = create_model("tiny", num_classes=7).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 37, 61))
    assert y.shape == (2, 7, 37, 61)
    assert model.stem is model.backbone.conv1 and model.style_channels == 16
    assert model.config.name == "tiny" and model.config.head == "fcn"


def test_registry_miss_lists_names() -> None:
    with pytest.raises(EdgeDGError, match="resnet50"):
        create_model("resnet51")
    with pytest.raises(EdgeDGError, match="aspp"):
        create_model("tiny", head="pspnet")


def test_torch_free_names_match_the_registries() -> None:
    """`edgedg train`'s help lists the registered names without importing torch."""
    assert tuple(BACKBONES) == BACKBONE_NAMES
    assert tuple(HEADS) == HEAD_NAMES


def test_pretrained_torchvision_format(tmp_path) -> None:
    src = create_model("resnet18")
    state = {
        k: torch.randn_like(v.float()).to(v.dtype) for k, v in src.backbone.state_dict().items()
    }
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    path = tmp_path / "r18.pth"
    torch.save(state, path)
    model = create_model("resnet18", pretrained=str(path))
    assert torch.equal(
        model.backbone.layer2[0].downsample[1].running_var,
        state["layer2.0.downsample.1.running_var"],
    )
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"])

    state["layer1.0.conv1.weight"] = torch.randn(64, 64, 1, 1)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"layer1\.0\.conv1\.weight.*\[64, 64, 1, 1\]"):
        create_model("resnet18", pretrained=str(path))
    with pytest.raises(CheckpointError, match="no pretrained"):
        create_model("resnet18", pretrained=str(tmp_path / "missing.pth"))
