"""Generate ``cupy_13_6.json``: the namespace of the pinned CuPy release, for the stand-in.

Run on a machine that reaches PyPI (no GPU needed; CuPy imports without a driver):

    python tests/cupy_standin/make_allowlist.py            # downloads cupy-cuda12x==13.6.0 + fastrlock

It downloads the wheels with ``pip download --no-deps``, unpacks them into a temporary
directory, imports ``cupy`` from there in a subprocess and records

- every public name of ``cupy``, ``cupy.random``, ``cupy.linalg``, ``cupy.fft`` with the
  parameter names of each function (None when it takes ``*args``/``**kwargs`` or has no signature),
- the public attributes of ``cupy.ndarray``, ``cupy.random.Generator`` and ``cupy.random.RandomState``,
- the *restrictions*: parameters whose docstring says "not supported" (e.g. ``packbits(axis=...)``),
  which CuPy rejects with NotImplementedError when given a non-default value.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "13.6.0"
OUT = Path(__file__).with_name("cupy_13_6.json")

DUMP = r'''
import inspect, json, re, sys
import cupy, cupy.random, cupy.linalg, cupy.fft

def params(f):
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
        return None
    return list(sig.parameters)

def namespace(mod):
    out = {}
    for name in dir(mod):
        if name.startswith("_"):
            continue
        obj = getattr(mod, name)
        out[name] = params(obj) if callable(obj) else "constant"
    return out

NOT_SUPPORTED = re.compile(r"^\s*(\w+)\s*(\([^)]*\))?\s*:\s*(.*not supported.*)$", re.I | re.M)

def restrictions(ns, mod):
    out = {}
    for name in ns:
        doc = getattr(getattr(mod, name), "__doc__", None) or ""
        hits = {m.group(1): m.group(3).strip() for m in NOT_SUPPORTED.finditer(doc)}
        ps = ns[name] if isinstance(ns[name], list) else []
        hits = {p: why for p, why in hits.items() if p in ps}
        if hits:
            out[name] = hits
    return out

pub = lambda c: sorted(n for n in dir(c) if not n.startswith("_") or n in ("__array_ufunc__", "__array_function__"))
mods = {"cupy": cupy, "random": cupy.random, "linalg": cupy.linalg, "fft": cupy.fft}
spaces = {k: namespace(m) for k, m in mods.items()}
json.dump({
    "version": cupy.__version__,
    "namespaces": spaces,
    "ndarray": sorted(n for n in dir(cupy.ndarray) if not n.startswith("_") or n.startswith("__")),
    "Generator": pub(cupy.random.Generator),
    "RandomState": pub(cupy.random.RandomState),
    "restrictions": {k: restrictions(spaces[k], m) for k, m in mods.items()},
}, sys.stdout, indent=1, sort_keys=True)
'''


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                        f"cupy-cuda12x=={VERSION}", "fastrlock"], check=True)
        site = Path(tmp) / "site"
        for whl in Path(tmp).glob("*.whl"):
            zipfile.ZipFile(whl).extractall(site)
        dump = subprocess.run([sys.executable, "-c", DUMP], env={"PYTHONPATH": str(site), "PATH": ""},
                              check=True, capture_output=True, text=True).stdout
    data = json.loads(dump)
    if data["version"] != VERSION:
        raise SystemExit(f"downloaded CuPy {data['version']}, expected {VERSION}")
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    n = sum(len(v) for v in data["namespaces"].values())
    print(f"{OUT}: {n} names, {len(data['ndarray'])} ndarray attributes")


if __name__ == "__main__":
    main()
