"""Every command line of the README is valid shell, and every app command composes: each job of
it (a sweep expanded as Hydra's basic sweeper does) passes the command-line check and composes
like ``--cfg job``."""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess

import pytest
from conftest import ROOT

from weightspace.apps import fit_ising, landscape, train
from weightspace.apps.cli import job_configs
from weightspace.apps.common import CONF_DIR

README = (ROOT / "README.md").read_text()
APPS = {"train.py": train.CHOICES, "fit_ising.py": fit_ising.CHOICES, "landscape.py": landscape.CHOICES}


def snippets() -> list[str]:
    """Shell text of the README: each ```bash block and each inline `python ...` / `make ...` span."""
    return re.findall(r"```bash\n(.*?)```", README, re.S) + re.findall(r"`((?:python|make) [^`]+)`", README)


def commands() -> list[list[str]]:
    """argv of every distinct command in the snippets (continuations joined, comments dropped,
    ``for`` loops expanded)."""
    out: list[list[str]] = []
    for snippet in snippets():
        for line in snippet.replace("\\\n", " ").splitlines():
            loop = re.fullmatch(r"\s*for (\w+) in ([^;]+); do (.*); done\s*(#.*)?", line)
            if loop:
                var, values, body = loop.group(1), loop.group(2).split(), loop.group(3)
                out += [shlex.split(body.replace(f"${var}", v)) for v in values]
            elif shlex.split(line, comments=True):
                out.append(shlex.split(line, comments=True))
    return [list(a) for a in dict.fromkeys(map(tuple, out))]


def test_readme_has_the_commands():
    argvs = commands()
    assert len(argvs) > 60 and sum(a[:1] == ["python"] for a in argvs) > 55
    assert ["python", "fit_ising.py", "experiment=deep_20_15x4_10_fit", "part=layer5"] in argvs


@pytest.mark.parametrize("snippet", snippets())
def test_valid_shell(snippet):
    proc = subprocess.run(["bash", "-n"], input=snippet, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("argv", commands(), ids=lambda a: " ".join(a)[:80])
def test_command_composes(argv):
    if argv[0] == "make":
        targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M)
        assert all(t in targets for t in argv[1:] if "=" not in t), argv
        return
    assert argv[0] == "python", f"README command not covered by this test: {argv}"
    if argv[1] in APPS:
        app, rest = argv[1][:-3], argv[2:]
        assert all(c.app == app for c in job_configs(app, rest, CONF_DIR, APPS[argv[1]]))  # raises on a problem
    elif argv[1] == "-m":
        module = importlib.import_module(argv[2])
        module.parser().parse_args(argv[3:])
    else:
        assert (ROOT / argv[1]).is_file(), argv
