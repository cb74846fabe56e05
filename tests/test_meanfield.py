"""Mean-field network: gradients vs finite differences, ensemble independence, sampling."""

import numpy as np
import torch
import torch.nn.functional as F

from weightspace.nets.batches import EnsembleBatches, step_noise
from weightspace.nets.forward import fixed_forward
from weightspace.nets.meanfield import meanfield_logits, sample_configs, sample_weights
from weightspace.nets.module import MeanFieldNet, init_fields
from weightspace.streams import seed_keys


def _loss(thetas, x, y, eps):
    logits = meanfield_logits(thetas, x, eps)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


def test_gradient_matches_finite_differences():
    torch.manual_seed(0)
    widths = [4, 3, 3, 2]
    thetas = [t.double().requires_grad_() for t in init_fields(widths, [7], 0.8)]
    x = torch.randn(1, 5, 4, dtype=torch.float64)
    y = torch.randint(0, 2, (1, 5))
    eps = [e.transpose(1, 2) for e in step_noise(seed_keys([1]), 0, 5, widths[1:], torch.float64)]  # quenched noise
    _loss(thetas, x, y, eps).backward()
    h = 1e-6
    for th in thetas:
        flat = th.detach().view(-1)
        for k in range(flat.numel()):
            old = flat[k].item()
            flat[k] = old + h
            up = _loss(thetas, x, y, eps).item()
            flat[k] = old - h
            down = _loss(thetas, x, y, eps).item()
            flat[k] = old
            fd = (up - down) / (2 * h)
            assert abs(fd - th.grad.view(-1)[k].item()) < 1e-6 * max(1.0, abs(fd))


def test_meanfield_without_noise_is_expected_preactivation():
    # one layer, no noise: z = x @ mu^T with mu = 2 sigmoid(theta) - 1
    th = torch.randn(1, 3, 4)
    x = torch.randn(1, 6, 4)
    z = meanfield_logits([th], x)
    assert torch.allclose(z, x @ (2 * torch.sigmoid(th) - 1).transpose(-1, -2), atol=1e-6)


def test_noise_variance_matches_binary_weight_sampling():
    # Local reparametrization: z = m + v eps has the mean and variance of sum_i w_i a_i, w ~ sigmoid(theta)
    torch.manual_seed(0)
    th = torch.randn(1, 1, 30)
    a = torch.rand(1, 1, 30)
    w = sample_weights([th], 200_000, torch.Generator().manual_seed(3))[0]  # [n, 1, 1, 30]
    z_true = (w[:, 0, 0] * a[0, 0]).sum(-1)
    eps = [torch.randn(200_000, 1, 1, generator=torch.Generator().manual_seed(4))]
    z_mf = meanfield_logits([th.expand(200_000, 1, 30)], a.expand(200_000, 1, 30), eps).flatten()
    assert abs(z_true.mean() - z_mf.mean()) < 0.03
    assert abs(z_true.var() / z_mf.var() - 1) < 0.02


def test_stream_samples_have_the_sigmoid_frequencies():
    # P(w = +1) = sigmoid(theta) per spin: 20 000 samples of 3 networks, binomial error <= 0.0036
    theta = torch.linspace(-3, 3, 12).view(1, 3, 4).expand(3, 3, 4).contiguous()
    w = sample_configs([theta], 20_000, seed_keys([0, 1, 0]))  # [n, E, 12]
    freq = (w > 0).double().mean(0)
    assert torch.allclose(freq, torch.sigmoid(theta.double()).reshape(3, 12), atol=0.015)
    assert torch.equal(w[:, 0], w[:, 2]) and not torch.equal(w[:, 0], w[:, 1])  # own seed only


def test_ensemble_members_are_independent_and_reproducible():
    x = torch.randn(100, 20)
    y = torch.randint(0, 10, (100,))
    o1 = next(iter(EnsembleBatches(x, y, [1, 2], 10)))[1]
    o2 = next(iter(EnsembleBatches(x, y, [1, 3], 10)))[1]
    assert torch.equal(o1[0], o2[0]) and not torch.equal(o1[1], o2[1])  # order depends on own seed only
    t = init_fields([20, 15, 10], [1, 2, 1], 0.1)
    assert torch.equal(t[0][0], t[0][2]) and not torch.equal(t[0][0], t[0][1])


def test_sampled_accuracy_of_deterministic_fields():
    # theta = +-20 makes the sampled net equal sign(theta): its accuracy is that of the fixed net
    widths = [6, 5, 3]
    rng = np.random.default_rng(0)
    signs = [torch.from_numpy(rng.choice([-1.0, 1.0], size=(o, i))).float() for i, o in zip(widths[:-1], widths[1:])]
    net = MeanFieldNet(widths, [0], n_eval_samples=3)
    with torch.no_grad():
        for p, s in zip(net.thetas, signs):
            p.copy_(20 * s[None])
    x = torch.randn(500, 6)
    y = fixed_forward(signs, x).argmax(-1)
    y[:100] = (y[:100] + 1) % 3  # 80% of labels agree with the teacher
    net.set_eval_data(x, y)
    ev = net.evaluate()
    assert torch.allclose(ev["acc_sampled"], torch.full((3, 1), 0.8))
    assert abs(ev["acc_meanfield"].item() - 0.8) < 1e-6
