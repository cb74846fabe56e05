"""Every config group option composes; typos fail with the valid keys."""

import pytest
from conftest import CONF, compose_cfg
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from weightspace.apps.cli import check
from weightspace.apps.common import CONF_DIR

GROUPS = ["arch", "dataset", "scenario", "logger", "trainer", "debug", "experiment"]


def _options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _app(group, option):
    """Experiments name their entry point in their ``app`` key (other groups: train)."""
    if group != "experiment":
        return "train"
    return OmegaConf.load(CONF / group / f"{option}.yaml")["app"]


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_option_composes(tmp_path, group, option):
    app = _app(group, option)
    if app != "train" and group in ("trainer", "debug"):
        pytest.skip(f"{group} belongs to train.py only")
    cfg = compose_cfg(app, [f"{group}={option}"], tmp_path)
    assert cfg.scenario.n_train > 0 and len(cfg.arch.widths) >= 2


@pytest.mark.parametrize("option", _options("analysis"))
def test_every_analysis_composes_and_resolves(tmp_path, option):
    from omegaconf import OmegaConf

    cfg = compose_cfg("landscape", [f"analysis={option}"], tmp_path)
    assert list(cfg.analysis) == [option]
    OmegaConf.to_container(cfg.analysis, resolve=True)


def test_scenarios_follow_the_paper(tmp_path):
    under = compose_cfg("train", [], tmp_path)
    assert (under.scenario.n_train, under.scenario.batch_size, under.scenario.lr) == (60000, 200, 0.3)
    assert list(under.arch.widths) == [20, 15, 15, 10] and under.dataset.name == "mnist_pca20"
    over = compose_cfg("train", ["scenario=over_para"], tmp_path)
    assert (over.scenario.n_train, over.scenario.batch_size, over.scenario.threshold) == (500, 20, 0.7)
    shallow = compose_cfg("train", ["scenario=shallow"], tmp_path)
    assert list(shallow.arch.widths) == [20, 10]
    fashion = compose_cfg("train", ["scenario=fashion_over_para"], tmp_path)
    assert fashion.dataset.images == "fashion" and fashion.scenario.n_train == 500


def test_typo_in_key_fails_with_valid_keys(tmp_path):
    with pytest.raises(ConfigCompositionException):
        compose_cfg("train", ["scenario.epoch=3"], tmp_path)
    msg = check("train", ["scenario.epoch=3"], CONF_DIR)
    assert "scenario.epoch" in msg and "epochs" in msg and "batch_size" in msg
    assert check("train", ["scenario=over_para", "scenario.epochs=3", "+extra=1"], CONF_DIR) is None
    assert "deep_20_15_15_10" in check("train", ["arch=deep_20"], CONF_DIR)


def test_top_level_seed_and_backend_reach_every_analysis(tmp_path):
    names = sorted(p.stem for p in (CONF / "analysis").glob("*.yaml"))
    cfg = compose_cfg("landscape", [f"analysis=[{','.join(names)}]", "seed=7", "backend=numpy"], tmp_path)
    for name in names:
        acfg = OmegaConf.to_container(cfg.analysis[name], resolve=True)
        seeds = [v for k, v in acfg.items() if k == "seed"] + [
            sub["seed"] for sub in acfg.values() if isinstance(sub, dict) and "seed" in sub
        ]
        assert seeds and set(seeds) == {7}, name  # every random choice of the analysis follows seed
        assert acfg["backend"] == "numpy", name
