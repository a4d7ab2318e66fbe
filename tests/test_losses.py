"""Each adversarial loss against values computed by hand."""
import math

import pytest
import torch

from modecollapse.lab.losses import LOSSES

D_REAL = torch.tensor([2.0, -1.0])
D_FAKE = torch.tensor([0.5, -3.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def bce_d() -> float:
    # -log sigmoid(r) for real, -log(1 - sigmoid(f)) for fake, each averaged over the batch
    real = (softplus(-2.0) + softplus(1.0)) / 2
    fake = (softplus(0.5) + softplus(-3.0)) / 2
    return real + fake


EXPECTED = {
    "minimax": (bce_d(), -(softplus(0.5) + softplus(-3.0)) / 2),
    "nonsaturating": (bce_d(), (softplus(-0.5) + softplus(3.0)) / 2),
    "wgan": ((0.5 - 3.0) / 2 - (2.0 - 1.0) / 2, -(0.5 - 3.0) / 2),
    "wgan-gp": ((0.5 - 3.0) / 2 - (2.0 - 1.0) / 2, -(0.5 - 3.0) / 2),
    "lsgan": (0.5 * (((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + (0.5**2 + 3.0**2) / 2), 0.5 * ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2),
    # relu(1 - r): 0, 2 -> 1 ; relu(1 + f): 1.5, 0 -> 0.75
    "hinge": (1.0 + 0.75, -(0.5 - 3.0) / 2),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_values(name):
    loss = LOSSES.get(name)
    d_expected, g_expected = EXPECTED[name]
    assert loss.d_loss(D_REAL, D_FAKE, 1.0, 0.0).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g_loss(D_FAKE).item() == pytest.approx(g_expected, rel=1e-6)


def test_every_registered_loss_is_checked():
    assert set(LOSSES.names()) == set(EXPECTED)


def test_label_targets_change_bce():
    loss = LOSSES.get("nonsaturating")
    smoothed = loss.d_loss(D_REAL, D_FAKE, 0.9, 0.0).item()
    # target 0.9 adds 0.1 * logit to the real term: -(0.9 log s(x) + 0.1 log(1 - s(x)))
    real = sum(0.9 * softplus(-x) + 0.1 * softplus(x) for x in (2.0, -1.0)) / 2
    fake = (softplus(0.5) + softplus(-3.0)) / 2
    assert smoothed == pytest.approx(real + fake, rel=1e-6)


def test_minimax_saturates_where_nonsaturating_does_not():
    # When D confidently rejects fakes (logit -10), the minimax gradient vanishes.
    x = torch.tensor([-10.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(LOSSES.get("minimax").g_loss(x), x)
    (g_ns,) = torch.autograd.grad(LOSSES.get("nonsaturating").g_loss(x), x)
    assert abs(g_mm.item()) < 1e-4 < abs(g_ns.item())


def test_wgan_losses_imply_their_constraint():
    assert LOSSES.get("wgan").implies[0][0] == "weight-clip"
    assert LOSSES.get("wgan-gp").implies == (("gp", {"kind": "wgan-gp", "weight": 10.0}),)
