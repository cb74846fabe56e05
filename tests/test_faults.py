"""Fault injection: every failure a user can cause or meet is one line naming the option or file,
with the right exit code (2 usage, 1 failure, 130/143 interrupted), and the store afterwards holds
exactly what it reports. Stores are tiny and live in temporary dirs; processes are started in
their own process group and only that group is ever signalled.

In-process cases go through the real error boundary (``boundary.run`` / ``common.launch``); the
signal and kill cases run ``train.py`` as a subprocess with two DDP ranks."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from hydra.core.global_hydra import GlobalHydra

from weightspace.apps import boundary, ranks
from weightspace.apps.common import launch
from weightspace.apps.fit_ising import run as fit_run
from weightspace.apps.landscape import run as landscape_run
from weightspace.apps.tracking import finishing
from weightspace.apps.train import run as train_run
from weightspace.ensemble.store import EnsembleStore, open_store
from weightspace.errors import Interrupted, StoreError

RUNS = {"train": train_run, "fit_ising": fit_run, "landscape": landscape_run}
DEEP = [20, 15, 15, 10]
N_DEEP = 20 * 15 + 15 * 15 + 15 * 10
TINY = [  # a collection that takes about a second per round on one core
    "task=collect", "scenario=over_para", "scenario.n_train=200", "scenario.epochs=1", "logger=none",
    "collect.ensemble_size=4", "collect.compile=false", "scenario.threshold=0",
]


def _fails(app: str, cfg, capsys) -> tuple[int, str]:
    """Run ``app`` through the boundary; (exit code, the one line it printed)."""
    with pytest.raises(SystemExit) as exc:
        boundary.run(app, RUNS[app], cfg)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith(f"{app}.py:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return exc.value.code, lines[0]


def _fake_store(path: Path, n: int, scenario: str = "over_para", widths=DEEP, seed0: int = 0) -> EnsembleStore:
    """A store of ``n`` random configurations (no training), with the run config a collection records."""
    prov = {"arch": {"widths": widths}, "scenario": {"name": scenario}, "dataset": {"name": "mnist_pca20"}}
    store = open_store(path, arch=widths, scenario=scenario, dataset="mnist_pca20", config=prov)
    rng = np.random.default_rng(seed0)
    with store.writer("fake") as w:
        w.add_batch(rng.choice(np.array([-1, 1], np.int8), (n, store.n_spins)), np.full(n, 0.9), np.arange(n) + seed0)
    return store


# ---- typed option checks (before any data is loaded) --------------------------------------------
@pytest.mark.parametrize(
    "app,override,key,code",
    [
        ("train", "collect.target=abc", "collect.target=abc", 2),
        ("train", "collect.target=2.5", "collect.target=2.5", 2),  # was truncated to 2
        ("train", "collect.devices=0", "collect.devices=0", 2),  # was Lightning's own message
        ("train", "scenario.threshold=1.5", "scenario.threshold=1.5", 2),
        ("fit_ising", "max_configs=-5", "max_configs=-5", 2),  # was "no configurations given"
        ("landscape", "references.count=0", "references.count=0", 2),
    ],
)
def test_bad_numeric_option_is_one_line_naming_the_key(make_cfg, tmp_path, capsys, app, override, key, code):
    extra = [*TINY, f"collect.store={tmp_path / 'store'}"] if app == "train" else [f"ensemble={tmp_path / 'none'}"]
    if app == "landscape":
        extra = [f"model={tmp_path / 'none.npz'}"]
    got, line = _fails(app, make_cfg(app, [*extra, override]), capsys)
    assert got == code and key in line and "must be" in line
    assert not (tmp_path / "store").exists()  # nothing was created: checked before any work


def test_integral_float_becomes_int(make_cfg, tmp_path):
    from weightspace.apps.options import check

    cfg = make_cfg("train", ["collect.target=2e3", "collect.max_trials=null"])
    check(cfg)
    assert cfg.collect.target == 2000 and type(cfg.collect.target) is int and cfg.collect.max_trials is None


# ---- unwritable store: found up front, with the right advice -----------------------------------
@contextmanager
def _as_nobody():
    """Permission checks apply to root too (root bypasses them): run the block as uid nobody."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.mark.parametrize("where", ["store", "parent"])
def test_unwritable_store_fails_before_training_with_the_right_advice(make_cfg, capsys, where):
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        run_dir = base / "run"
        run_dir.mkdir(mode=0o777)
        run_dir.chmod(0o777)
        store_dir = base / "ens" / "store"
        if where == "store":  # an existing store, 200 of 300 collected, that cannot be appended to
            _fake_store(store_dir, 200)
            store_dir.chmod(0o555)
        else:  # a read-only output directory
            store_dir.parent.mkdir()
            store_dir.parent.chmod(0o555)
        cfg = make_cfg("train", [*TINY, "collect.target=300", f"collect.store={store_dir}"])
        cfg.paths.output_dir = str(run_dir)
        with _as_nobody():
            code, line = _fails("train", cfg, capsys)
        assert code == 1 and f"collect.store={store_dir}: cannot create files in " in line  # before any trial
        assert "writable or choose another collect.store" in line and "disk space" not in line
        if where == "store":
            assert EnsembleStore(store_dir).count() == 200 and not list(store_dir.parent.glob("*.lock"))
    finally:
        for p in [base, *base.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(base)


def test_shard_write_failure_advice_matches_the_cause(tmp_path, monkeypatch):
    import weightspace.ensemble.store as st

    store = _fake_store(tmp_path / "s", 3)
    for code, advice in ((errno.ENOSPC, "free disk space"), (errno.EACCES, f"make {store.path} writable")):
        w = store.writer("w")
        w.add(np.ones(N_DEEP, np.int8), 0.9, 100 + code)

        def fail(*a, code=code, **k):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(st.os, "replace", fail)
        with pytest.raises(StoreError, match=advice):
            w.flush()
        monkeypatch.undo()
    assert EnsembleStore(store.path).count() == 3


# ---- resume: corrupt bits are not counted (bug 2) -----------------------------------------------
def test_resume_sets_damaged_shard_aside_and_recollects_its_trials(make_cfg, tmp_path, capsys):
    store_dir = tmp_path / "store"
    train_run(make_cfg("train", [*TINY, f"collect.store={store_dir}", "collect.target=4"]))
    train_run(make_cfg("train", [*TINY, f"collect.store={store_dir}", "collect.target=6"]))
    store = EnsembleStore(store_dir)
    before = store.load()
    first = next(p for p in store.shard_paths() if store.shard_info(p).count == 4)
    raw = bytearray(first.read_bytes())
    raw[-1] ^= 0x01  # one flipped weight bit; headers, seeds and accuracies stay intact
    first.write_bytes(bytes(raw))
    capsys.readouterr()
    m = boundary.run("train", train_run, make_cfg("train", [*TINY, f"collect.store={store_dir}", "collect.target=6"]))
    out = capsys.readouterr().out
    assert f"set aside a damaged shard, its trials will run again: {first}: bad checksum" in out
    assert "store holds 2 of 6; this rank adds 4" in out and m["kept"] == 4 and m["trials"] == 4
    good, rec, problems = store.check()
    assert store.count() == 6 and len(good) == len(store.shard_paths())  # holds exactly what it reports
    assert problems == [f"1 damaged shard(s) set aside in {store_dir / 'damaged'} (never read; their trials "
                        "were rerun or will be on resume): inspect or delete them"]
    assert store.damaged_paths() == [store_dir / "damaged" / first.name]
    after = store.load()  # the same seeds give the same configurations: the store is as if never damaged
    order_b, order_a = np.argsort(before.seed), np.argsort(after.seed)
    np.testing.assert_array_equal(before.seed[order_b], after.seed[order_a])
    np.testing.assert_array_equal(before.spins[order_b], after.spins[order_a])
    assert not list(tmp_path.glob("*.lock"))  # lock files are removed on a clean exit


def test_foreign_shard_is_refused_not_set_aside(tmp_path):
    a, b = _fake_store(tmp_path / "a", 3), _fake_store(tmp_path / "b", 2, scenario="shallow", seed0=10)
    shutil.copy(b.shard_paths()[0], a.path / "shard-zz-foreign.wsh")
    with pytest.raises(StoreError, match=r"shard-zz-foreign.wsh: shard belongs to another store .* which 1 of the 2"):
        a.set_aside_damaged()
    assert len(a.shard_paths()) == 2 and a.damaged_paths() == []


# ---- store.json: damaged, edited ----------------------------------------------------------------
def test_autodiscovery_names_an_unreadable_store_json_instead_of_using_an_older_store(make_cfg, tmp_path, capsys):
    root = tmp_path / "root"
    _fake_store(root / "outputs" / "ensembles" / "old", 50)
    newer = _fake_store(root / "outputs" / "ensembles" / "new", 50).path / "store.json"
    newer.write_text(newer.read_text()[:40])  # cut short, e.g. by a full disk
    cfg = make_cfg("fit_ising", ["scenario=over_para", "logger=none", "part=layer1"])
    cfg.paths.root_dir = str(root)
    code, line = _fails("fit_ising", cfg, capsys)
    assert code == 1 and f"{newer}: unreadable store metadata" in line and "ensemble=PATH" in line


def test_edited_store_json_is_named_not_the_shards(make_cfg, tmp_path, capsys):
    store = _fake_store(tmp_path / "s", 5)
    with store.writer("second") as w:  # two shards that agree with each other
        w.add(np.ones(N_DEEP, np.int8), 0.9, 99)
    meta = json.loads((store.path / "store.json").read_text())
    meta["scenario"] = "under_para"
    (store.path / "store.json").write_text(json.dumps(meta))
    code, line = _fails("fit_ising", make_cfg("fit_ising", [f"ensemble={store.path}", "logger=none"]), capsys)
    assert code == 1 and f"{store.path / 'store.json'}: none of the 2 shards matches" in line
    assert "store.json was likely edited or damaged (its own config and every shard say scenario='over_para')" in line
    cfg = make_cfg("train", [*TINY, f"collect.store={store.path}", "collect.target=9"])  # resuming it
    code, line = _fails("train", cfg, capsys)
    assert code == 1 and "says scenario='under_para' but the run config recorded in it says " in line


# ---- moments files (bug 4) ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,expect",
    [("empty", "the file is empty"), ("npy", "a .npy file holds a single array"), ("text", "not an .npz archive"),
     ("keys", "holds arrays ['x'], not 'm' and 'C'"), ("missing", "No such file")],
)
def test_bad_moments_file_is_one_line_naming_it(make_cfg, tmp_path, capsys, kind, expect):
    path = tmp_path / f"moments.{'npy' if kind == 'npy' else 'npz'}"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "npy":
        np.save(path, np.eye(3))
    elif kind == "text":
        path.write_text("m = 0.1 0.2\n")
    elif kind == "keys":
        np.savez(path, x=np.eye(2))
    code, line = _fails("fit_ising", make_cfg("fit_ising", [f"moments={path}", "logger=none"]), capsys)
    assert code == 1 and f"moments={path}: {expect}" in line
    assert kind == "missing" or "np.savez(path, m=m, C=C)" in line


# ---- the boundary itself ------------------------------------------------------------------------
@pytest.fixture
def log_file(tmp_path):
    """A file handler on the root logger, as Hydra installs for a run's <job>.log."""
    handler = logging.FileHandler(tmp_path / "job.log")
    logging.getLogger().addHandler(handler)
    yield tmp_path / "job.log"
    logging.getLogger().removeHandler(handler)
    handler.close()


def _raises(exc):
    def fn(cfg):
        raise exc

    return fn


@pytest.mark.parametrize(
    "exc,code,text",
    [
        (KeyboardInterrupt(), 130, "interrupted (Ctrl-C): the run dir"),
        (Interrupted("the store holds 7", signal.SIGTERM), 143, "interrupted (SIGTERM): the store holds 7"),
        (np.linalg.LinAlgError("SVD did not converge"), 1, "numerical failure (LinAlgError: SVD did not converge)"),
        (PermissionError(errno.EACCES, "Permission denied", "/x/y"), 1, "/x/y: Permission denied; make it writable"),
        (ValueError("model=a.npz: no such file;\n run fit_ising.py"), 1, "model=a.npz: no such file; run fit_ising.py"),
        (TypeError("bad operand"), 1, "unexpected TypeError: bad operand -- a bug? The traceback is in"),
    ],
)
def test_boundary_turns_each_failure_into_one_line_and_logs_the_traceback(
    make_cfg, capsys, monkeypatch, log_file, exc, code, text
):
    monkeypatch.setitem(RUNS, "landscape", _raises(exc))
    got, line = _fails("landscape", make_cfg("landscape", []), capsys)
    assert got == code and text in line and "\n" not in line
    if isinstance(exc, TypeError):
        assert str(log_file) in line
    log = log_file.read_text()
    assert "Traceback (most recent call last)" in log and line.split(": ", 1)[1].split(" -- ")[0] in log


def test_full_traceback_on_request_and_quiet_other_ranks(make_cfg, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(RUNS, "landscape", _raises(ValueError("references.path=x.npy: no such file")))
    monkeypatch.setattr(boundary, "_debug", True)  # HYDRA_FULL_ERROR=1 or hydra.verbose=true
    with pytest.raises(SystemExit) as exc:
        boundary.run("landscape", RUNS["landscape"], make_cfg("landscape", []))
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "Traceback (most recent call last)" in err
    assert err.splitlines()[-1] == "landscape.py: references.path=x.npy: no such file"
    monkeypatch.setattr(boundary, "_debug", False)
    monkeypatch.setattr(ranks, "rank", lambda: 1)  # a DDP child: nothing printed, the line left for rank 0
    with pytest.raises(SystemExit) as exc:
        boundary.run("landscape", RUNS["landscape"], make_cfg("landscape", []))
    assert exc.value.code == 1 and capsys.readouterr().err == ""
    assert ranks.error_file(tmp_path, 1).read_text() == "references.path=x.npy: no such file\n"


def test_failed_run_closes_its_loggers_as_failed():
    class Logger:
        status = None

        def finalize(self, status):
            self.status = status

    ok, bad = Logger(), Logger()
    with finishing([ok]):
        pass
    with pytest.raises(KeyboardInterrupt), finishing([bad]):
        raise KeyboardInterrupt
    assert (ok.status, bad.status) == ("success", "failed")


def _launch(app: str, argv: list[str], monkeypatch, capsys) -> tuple[int, list[str]]:
    monkeypatch.setattr(sys, "argv", [f"{app}.py", *argv])
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as exc:
        launch(app, RUNS[app])
    return exc.value.code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_command_line_failures_are_one_line(tmp_path, monkeypatch, capsys, hydra_logging):
    run_dir = tmp_path / "run"
    code, err = _launch("train", [*TINY, f"collect.store={tmp_path / 's'}", "collect.target=2.5",
                                  f"hydra.run.dir={run_dir}"], monkeypatch, capsys)
    assert code == 2 and err == [
        "train.py: collect.target=2.5: must be an integer, not a fraction (configurations the store should hold)"]
    assert "Traceback" in (run_dir / "collect.log").read_text()  # the run's log has it
    code, err = _launch("fit_ising", ["scenario.epoch=3"], monkeypatch, capsys)  # an unknown key
    assert code == 2 and len(err) == 1 and err[0].startswith("fit_ising.py: unknown config key 'scenario.epoch'")
    code, err = _launch("fit_ising", ["seed=[1"], monkeypatch, capsys)  # a malformed override
    assert code == 2 and len(err) == 1 and "seed=[1" in err[0]
    (tmp_path / "file").write_text("")  # a run dir that cannot be created: Hydra's own error
    code, err = _launch("fit_ising", ["logger=none", f"hydra.run.dir={tmp_path / 'file' / 'x'}"], monkeypatch, capsys)
    assert code == 1 and len(err) == 1 and err[0].startswith(f"fit_ising.py: {tmp_path / 'file' / 'x'}: ")


# ---- processes: Ctrl-C, kill -9 (bugs 1, 5) -----------------------------------------------------
def _alive(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that have not exited (zombies excluded)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


@contextmanager
def _ddp_collection(tmp_path: Path, *extra: str):
    """``train.py`` collecting with 2 CPU ranks in a new process group, until rank 0 and 1 both
    train and a shard is flushed; yields (process, store dir, run dir); the group is killed after."""
    store, run = tmp_path / "store", tmp_path / "run"
    cmd = [sys.executable, "train.py", *TINY, "collect.ensemble_size=2", "collect.devices=2",
           "collect.accelerator=cpu", "collect.flush_every_s=0.2", "collect.target=100000",
           f"collect.store={store}", f"hydra.run.dir={run}", *extra]
    env = dict(os.environ, WANDB_SILENT="true", PYTHONPATH=str(ROOT / "src"))
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=o, stderr=e, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (out.read_text().count("collect [rank") == 2 and list(store.glob("shard-*-g1of2-*"))
                   and list(store.glob("shard-*-g0of2-*"))):
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.2)
        yield proc, store, run
    finally:
        if _alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _stderr_lines(tmp_path: Path) -> list[str]:
    return [ln for ln in (tmp_path / "stderr").read_text().splitlines() if ln.startswith("train.py:")]


def _quiet(err: str) -> bool:
    """No traceback, no gloo error from a surviving rank, no Hydra job report."""
    return not any(s in err for s in ("Traceback", "Connection closed", "ProcessGroupGloo", "Error executing job"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_to_the_process_group_stops_every_rank_with_one_line(tmp_path):
    with _ddp_collection(tmp_path) as (proc, store, run):
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
        deadline = time.monotonic() + 30
        while _alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(proc.pid)
    err = (tmp_path / "stderr").read_text()
    lines = _stderr_lines(tmp_path)
    assert len(lines) == 1 and _quiet(err), err[-3000:]
    held = int(re.fullmatch(
        rf"train\.py: interrupted \(Ctrl-C\): the store {store} holds (\d+) configurations \(every flushed shard is "
        r"kept\); rerun the same command to resume", lines[0]).group(1))
    good, rec, problems = EnsembleStore(store).check()  # both ranks flushed before the line was printed
    assert problems == [] and rec.seed.size == held > 0 and {s.writer for s in good} == {
        "over_para-g0of2", "over_para-g1of2"}
    assert not list(tmp_path.glob("*.lock")) and "Interrupted" in (run / "collect.log").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_launcher_leaves_no_rank_behind(make_cfg, tmp_path):
    with _ddp_collection(tmp_path) as (proc, store, _):
        os.kill(proc.pid, signal.SIGKILL)  # the launcher only, as the OOM killer or a scheduler would
        proc.wait()
        deadline = time.monotonic() + 60
        while _alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(proc.pid), "a rank survived its launcher"
    held = EnsembleStore(store).count()
    assert held > 0 and EnsembleStore(store).check()[2] == []
    # an immediate restart of both seed classes is not refused by a lock, and completes the store
    kept = sum(
        train_run(make_cfg("train", [*TINY, f"collect.store={store}", f"collect.target={held + 3}",
                                     "collect.array_size=2", f"collect.array_index={i}"]))["kept"]
        for i in (1, 0)
    )
    good, rec, problems = EnsembleStore(store).check()
    assert kept == 3 and problems == [] and rec.seed.size == EnsembleStore(store).count() == held + 3
    assert len(np.unique(rec.seed)) == rec.seed.size and not list(tmp_path.glob("*.lock"))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_rank_stops_the_run_with_one_line(tmp_path):
    with _ddp_collection(tmp_path) as (proc, store, _):
        child = next(p for p in _alive(proc.pid) if p != proc.pid and
                     Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(proc.pid))
        os.kill(child, signal.SIGKILL)
        assert proc.wait(timeout=120) == 1
    lines, err = _stderr_lines(tmp_path), (tmp_path / "stderr").read_text()
    assert lines == ["train.py: rank 1 was killed by SIGKILL (out of memory? kill?); the shards it flushed are "
                     "kept: rerun the same command to resume"] and _quiet(err), err[-3000:]
    assert EnsembleStore(store).check()[2] == []


@pytest.mark.slow
def test_an_error_on_every_rank_is_printed_once(tmp_path):
    store = _fake_store(tmp_path / "store", 3)
    (store.path / "store.json").write_text("{")  # every rank fails when it opens the store
    proc = subprocess.run(
        [sys.executable, "train.py", *TINY, "collect.devices=2", "collect.accelerator=cpu",
         f"collect.store={store.path}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, env=dict(os.environ, WANDB_SILENT="true", PYTHONPATH=str(ROOT / "src")),
        capture_output=True, text=True, timeout=300, start_new_session=True,
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("train.py:")]
    assert proc.returncode == 1 and len(lines) == 1 and "unreadable store metadata" in lines[0]
    assert _quiet(proc.stderr), proc.stderr[-3000:]
