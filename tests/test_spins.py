import numpy as np
import pytest
import torch

from weightspace.nets.spins import available_parts, config_to_layers, layers_to_config, n_spins, part_slice

W = [20, 15, 15, 10]


def test_part_ranges_20_15_15_10():
    assert n_spins(W) == 675
    assert part_slice(W, "lb") == slice(0, 300)
    assert part_slice(W, "itr") == slice(300, 525)
    assert part_slice(W, "rb") == slice(525, 675)
    assert part_slice(W, "full") == slice(0, 675)
    assert part_slice(W, "layer2") == slice(300, 525)


def test_deeper_net_parts():
    w = [20, 15, 15, 15, 15, 10]
    assert part_slice(w, "itr") == slice(300, 300 + 3 * 225)
    assert part_slice(w, "layer5") == slice(300 + 3 * 225, 300 + 3 * 225 + 150)
    assert available_parts([20, 10]) == ["full"]  # LB = RB = the whole net: fitted once
    assert available_parts([20, 15, 10]) == ["full", "lb", "rb"]
    with pytest.raises(ValueError, match="part=itr"):
        part_slice([20, 10], "itr")
    with pytest.raises(ValueError, match="layer6"):
        part_slice(w, "layer6")


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_config_layers_round_trip(lib):
    rng = np.random.default_rng(0)
    layers = [rng.choice([-1, 1], size=(3, o, i)).astype(np.int8) for i, o in zip(W[:-1], W[1:])]
    if lib == "torch":
        layers = [torch.from_numpy(a) for a in layers]
    cfg = layers_to_config(layers)
    assert tuple(cfg.shape) == (3, 675)
    # row-major flattening of W^l[out, in], layers in order
    assert cfg[1, 300 + 2 * 15 + 7] == layers[1][1, 2, 7]
    back = config_to_layers(cfg, W)
    for a, b in zip(layers, back):
        assert (np.asarray(a) == np.asarray(b)).all()
    with pytest.raises(ValueError, match="675"):
        config_to_layers(cfg[:, :-1], W)
