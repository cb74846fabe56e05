#!/usr/bin/env bash
# One prepared GPU check (issue 17): the gpu-marked tests, the collection, fit and Fig. 5 landscape
# benchmarks on CUDA, and a JSON summary. Documented in docs/benchmarks.md ("GPU check").
#
#   scripts/device_check.sh --download-wheels   # HERE (CPU machine with PyPI): fill the git-ignored .whl/
#                                               # with the wheels of what the GPU image lacks (hydra, wandb, ...)
#   scripts/device_check.sh                     # ON THE GPU MACHINE (device `run` with carry [".whl"]):
#                                               # install .whl/, run everything, write $OUT/device_check.json
#
# Each step has its own time limit (STEP_LIMITS below; the whole check fits in ~8 minutes) and a failing
# step does not stop the others: its exit code and log tail are in the summary.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}

# Python packages of the device image (docs of the device tool, 2026-11-17), minus nothing: what the
# project needs beyond these travels as wheels.
DEVICE_HAS="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch
mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py onnx onnxruntime
opencv-python-headless optax opt-einsum optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow
pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece setuptools shellingham simplejson six sortedcontainers statsmodels
sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers
toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton
typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp"

download_wheels() {
  # the closure of the project's requirements (as installed in this venv), minus the image's packages,
  # pinned to this venv's versions, as cp312 manylinux / pure wheels (sdist-only ones built here)
  local names
  names=$(DEVICE_HAS="$DEVICE_HAS" "$PY" - <<'PYEOF'
import os, re
from importlib.metadata import distribution, PackageNotFoundError
from packaging.requirements import Requirement
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
have = {norm(n) for n in os.environ["DEVICE_HAS"].split()}
env = {"python_version": "3.12", "sys_platform": "linux", "platform_system": "Linux", "extra": ""}
todo = ["hydra-core", "omegaconf", "wandb", "hydra-submitit-launcher"]
seen = {}
while todo:
    name = norm(todo.pop())
    if name in seen or name in have:
        continue
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        continue
    seen[name] = dist.version
    for r in dist.requires or []:
        req = Requirement(r)
        if req.marker is None or req.marker.evaluate(env):
            todo.append(req.name)
print(" ".join(f"{n}=={v}" for n, v in sorted(seen.items())))
PYEOF
)
  echo "wheels for: $names"
  mkdir -p .whl
  for spec in $names; do
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec" 2>/dev/null \
    || "$PY" -m pip wheel -q --no-deps -w .whl "$spec" \
    || { echo "no wheel for $spec"; return 1; }
  done
  du -sh .whl && ls .whl
}

if [[ "${1:-}" == "--download-wheels" ]]; then
  download_wheels
  exit $?
fi

OUT=${OUT:-$ROOT/outputs/device_check}
mkdir -p "$OUT"
export WANDB_MODE=offline WANDB_SILENT=true PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
SITE=
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    > "$OUT/install.log" 2>&1 || { echo "wheel install failed: $OUT/install.log"; exit 1; }
  SITE=/tmp/site
fi
export PYTHONPATH=$ROOT/src${SITE:+:$SITE}
{
  nvidia-smi
  "$PY" -c "import cupy, torch, numpy; print('cupy', cupy.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"
  "$PY" -m pip list 2>/dev/null | grep -i -E "^(protobuf|click|pydantic|wandb|hydra-core|omegaconf|lightning|scipy) "
  "$PY" -c "import weightspace.apps.fit_ising, weightspace.apps.landscape, weightspace.apps.train; print('apps import')"
} > "$OUT/env.log" 2>&1

declare -A STEP_LIMITS=([gpu_tests]=210 [collect]=150 [fit]=90 [landscape]=90 [double_descent]=90)
STEPS=()
step() {  # step NAME CMD...: run with its limit, log to $OUT/NAME.log, record rc and seconds
  local name=$1; shift
  local t0=$SECONDS
  timeout "${STEP_LIMITS[$name]}" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  STEPS+=("$name $rc $((SECONDS - t0))")
  echo "$name: rc $rc, $((SECONDS - t0)) s"
}

step gpu_tests "$PY" -m pytest -m gpu tests/test_gpu.py -q -rs -p no:cacheprovider --junitxml="$OUT/gpu_tests.xml"
step collect "$PY" benchmarks/bench_collect.py --device cuda ${BENCH_COLLECT_ARGS:---steps 100}
step fit "$PY" benchmarks/bench_fit.py --n 675 --samples 200000 --skip-baseline --backend cupy
step landscape "$PY" benchmarks/bench_landscape.py --refs 60 --baseline-refs 1 --backend cupy --workers 1
# Fig. 17 protocol (5 runs x h = 1..30, both kinds) for 3 000 epochs: s/epoch -> time of the full 10^6 / 10^5
step double_descent "$PY" train.py experiment=double_descent double_descent.until=3000 logger=none \
  hydra.run.dir="$OUT/double_descent"

printf '%s\n' "${STEPS[@]}" | OUT=$OUT "$PY" - <<'PYEOF'
"""Summary: per step rc / seconds / log tail, and the headline numbers parsed from the logs."""
import json, os, re, sys
from pathlib import Path
out = Path(os.environ["OUT"])
log = lambda name: (out / f"{name}.log").read_text(errors="replace") if (out / f"{name}.log").exists() else ""
summary = {"steps": {}}
for line in sys.stdin.read().split("\n"):
    if line.strip():
        name, rc, secs = line.split()
        summary["steps"][name] = {"rc": int(rc), "seconds": int(secs), "tail": log(name).splitlines()[-12:]}
env = log("env")
m = re.search(r"cupy (\S+) torch (\S+) numpy (\S+) cuda (\S+)", env)
summary["env"] = dict(zip(("cupy", "torch", "numpy", "cuda"), m.groups())) if m else {}
gpu = re.search(r"NVIDIA [A-Z0-9]+[^|]*", env)
summary["env"]["gpu"] = gpu.group(0).strip() if gpu else None
t = log("gpu_tests")
counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)", t)}
summary["gpu_tests"] = counts
collect = [l for l in log("collect").splitlines() if l.startswith("{")]
summary["collect"] = json.loads(collect[-1]) if collect else None
fit = re.search(r"ours\s+([\d.]+) s\s+steps\s+(\d+)\s+delta_bp ([\d.]+)", log("fit"))
summary["fit_full_675"] = {"seconds": float(fit[1]), "steps": int(fit[2]), "delta_bp": float(fit[3])} if fit else None
land = re.search(r"TOTAL: batched ([\d.]+) s, baseline ([\d.]+) s", log("landscape"))
summary["fig5_landscape"] = {"seconds": float(land[1]), "cpu_baseline_seconds_scaled": float(land[2])} if land else None
dd = out / "double_descent" / "metrics.json"
dd = json.loads(dd.read_text()) if dd.exists() else {}
summary["double_descent"] = {k: dd.get(f"{k}/seconds_per_epoch") for k in ("real", "binary")}
if all(summary["double_descent"].values()):
    summary["double_descent"]["full_protocol_minutes"] = (
        1e6 * summary["double_descent"]["real"] + 1e5 * summary["double_descent"]["binary"]) / 60
summary["targets"] = {
    "collect_trials_per_s>=300": (summary["collect"] or {}).get("trials_per_s", 0) >= 300,
    "fit_full<=5s": bool(fit) and float(fit[1]) <= 5,
    "fig5<=30s": bool(land) and float(land[1]) <= 30,
    "gpu_tests_all_pass": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0) == 0
                          and counts.get("passed", 0) > 0,
}
(out / "device_check.json").write_text(json.dumps(summary, indent=1))
print(json.dumps({k: summary[k] for k in ("gpu_tests", "fit_full_675", "fig5_landscape", "double_descent", "targets")}))
PYEOF
