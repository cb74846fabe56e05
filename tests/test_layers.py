"""Architecture rules: the Hydra/W&B layer lives in ``weightspace.apps`` only; the physics packages
import without hydra and wandb; no import cycle anywhere in the package."""

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PKG = ROOT / "src" / "weightspace"
PHYSICS = ["backend", "data", "ensemble", "experiments", "function_space", "ising", "landscape", "nets",
           "overlaps", "plots"]

BLOCKER = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("hydra", "wandb"):
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
import weightspace
for name in sys.argv[1:]:
    mod = importlib.import_module(f"weightspace.{name}")
    for info in pkgutil.walk_packages(getattr(mod, "__path__", []), f"weightspace.{name}."):
        importlib.import_module(info.name)
assert not [m for m in sys.modules if m.split(".")[0] in ("hydra", "wandb")]
print("ok")
"""


def test_physics_packages_import_without_hydra_and_wandb():
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *PHYSICS], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """weightspace modules imported anywhere in the file (function-level imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("weightspace")}


def test_no_import_cycle():
    files = {_module(p): p for p in PKG.rglob("*.py")}
    graph = {m: {d for d in _imports(p, m) if d in files and d != m and not m.startswith(d + ".")}
             for m, p in files.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            cycle = [*stack[stack.index(d):], d] if d in stack else [m, d]
            assert state.get(d) != 1, "import cycle: " + " -> ".join(cycle)
            if d not in state:
                visit(d, [*stack, d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_hydra_and_wandb_only_in_apps():
    for path in PKG.rglob("*.py"):
        if "apps" in path.relative_to(PKG).parts:
            continue
        for m in _imports_any(path):
            assert m.split(".")[0] not in ("hydra", "wandb"), f"{path}: imports {m}"


def _imports_any(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            out.add(node.module or "")
    return out
