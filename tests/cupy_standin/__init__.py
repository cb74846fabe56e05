"""A strict, NumPy-backed stand-in for CuPy 13.6, for CPU CI (a test helper, never a runtime dependency).

Installed as ``cupy`` by the ``standin`` / ``xp`` fixtures of tests/conftest.py, it lets every CuPy
code path of the kernels run on a machine without a GPU, and is stricter than NumPy where CuPy is:

- arrays refuse implicit conversion (``np.asarray(a)`` raises, as CuPy does); ``a.get()``,
  ``cupy.asnumpy``, ``float``/``int``/``bool``/``item``/``tolist`` convert and count a *host sync*;
- a NumPy array mixed into arithmetic, a ufunc or a function raises TypeError; NumPy arrays are
  accepted only by the constructors (``asarray``/``array``) and as indices / assigned values, where
  CuPy copies them to the device (counted as ``h2d``);
- reductions return 0-d arrays, not Python or NumPy scalars (so ``if a.max() > 0`` is a sync);
- only the names of the pinned release exist (``cupy_13_6.json``, made by make_allowlist.py), keyword
  arguments are checked against CuPy's signatures, and the known argument restrictions raise
  NotImplementedError (e.g. ``packbits(axis=...)``);
- random numbers come from deliberately different streams than NumPy's for the same seed;
- ``counters`` counts operations that would be kernel launches on a GPU (every array-producing call
  except views), host syncs and host-to-device copies.
"""

from __future__ import annotations

import builtins
import functools
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

SPEC = json.loads(Path(__file__).with_name("cupy_13_6.json").read_text())
__version__ = SPEC["version"]

# restrictions the docstring scan of make_allowlist.py cannot see (CuPy raises NotImplementedError)
KNOWN_RESTRICTIONS = {"unpackbits": {"axis": "Not supported yet."}}
RESTRICTIONS = {**SPEC["restrictions"]["cupy"], **KNOWN_RESTRICTIONS}
CONSTRUCTORS = {"array", "asarray", "asanyarray", "ascontiguousarray", "asnumpy", "get_array_module"}
# functions that return 0-d arrays in CuPy where NumPy returns a Python bool
BOOL_TO_ARRAY = {"allclose", "array_equal", "array_equiv"}
IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy "
            "array explicitly.")


class Counters:
    """Operation counters: ``launches`` (device kernels), ``syncs`` (device -> host), ``h2d`` (host -> device)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.launches = self.syncs = self.h2d = 0

    def snapshot(self) -> dict[str, int]:
        return {"launches": self.launches, "syncs": self.syncs, "h2d": self.h2d}


counters = Counters()


def _reject(x: Any, where: str) -> None:
    raise TypeError(f"Unsupported type {type(x)} in {where}: CuPy does not mix NumPy arrays in; "
                    "move it with cupy.asarray first")


def _unwrap(x: Any, where: str, host_ok: bool = False) -> Any:
    """Stand-in arrays -> their NumPy data; NumPy arrays rejected unless ``host_ok`` (then counted h2d)."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        if not host_ok:
            _reject(x, where)
        counters.h2d += 1
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, where, host_ok) for v in x)
    return x


def _wrap(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "OSUVM" or x.dtype == np.longdouble and x.dtype.itemsize > 8:
            raise TypeError(f"CuPy does not support dtype {x.dtype}")
        return ndarray(x)
    if isinstance(x, np.generic):
        return ndarray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _basic_key(key: Any) -> bool:
    """True for indices that make a view (ints, slices, None, Ellipsis): no kernel launch."""
    key = key if isinstance(key, tuple) else (key,)
    return builtins.all(isinstance(k, (int, np.integer, slice, type(None), type(Ellipsis))) and not isinstance(k, bool)
               for k in key)


def _key(key: Any) -> Any:
    """Index with stand-in arrays unwrapped; NumPy arrays and lists are copied to the device (h2d)."""
    if isinstance(key, tuple):
        return tuple(_key(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, (np.ndarray, list)):
        counters.h2d += 1
        return np.asarray(key)
    return key


def _operand(x: Any, op: str) -> Any:
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        _reject(x, op)
    if isinstance(x, (int, float, complex, bool, np.generic)):
        return x
    return NotImplemented


class ndarray:  # noqa: N801 (CuPy's name)
    """A device array: NumPy data behind CuPy's interface (see the module docstring)."""

    __slots__ = ("_a",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # --- attributes (no launch) ---
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    real = property(lambda self: ndarray(self._a.real))
    imag = property(lambda self: ndarray(self._a.imag))

    # --- conversions ---
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(IMPLICIT)

    def get(self, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> np.ndarray:
        counters.syncs += 1
        return self._a.copy()

    def _scalar(self) -> Any:
        counters.syncs += 1
        return self._a

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def __bool__(self) -> bool:
        return bool(self._scalar())

    def __complex__(self) -> complex:
        return complex(self._scalar())

    def __format__(self, spec: str) -> str:
        return format(self._scalar(), spec)

    # no __index__: CuPy arrays cannot stand in for Python ints (range(n), list[i], shapes)

    def item(self) -> Any:
        return self._scalar().item()

    def tolist(self) -> Any:
        return self._scalar().tolist()

    def __repr__(self) -> str:
        return repr(self._scalar()).replace("array", "standin_array", 1)

    __str__ = __repr__

    def __len__(self) -> int:
        if not self._a.ndim:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self) -> Any:
        if not self._a.ndim:
            raise TypeError("iteration over a 0-d array")
        return (ndarray(np.asarray(self._a[i])) for i in range(len(self._a)))

    # --- indexing ---
    def __getitem__(self, key: Any) -> ndarray:
        if not _basic_key(key):
            counters.launches += 1
        return ndarray(np.asarray(self._a[_key(key)]))

    def __setitem__(self, key: Any, value: Any) -> None:
        counters.launches += 1
        self._a[_key(key)] = _unwrap(value, "__setitem__", host_ok=True)

    # --- interop protocols: NumPy functions dispatch here, NumPy arrays mixed in are refused ---
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or ufunc.__name__ not in SPEC["namespaces"]["cupy"]:
            return NotImplemented
        args = [_operand(x, ufunc.__name__) for x in inputs]
        if builtins.any(a is NotImplemented for a in args):
            return NotImplemented
        out = kwargs.pop("out", None)
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o, ufunc.__name__) for o in out)
        counters.launches += 1
        res = ufunc(*args, **kwargs)
        return out[0] if out is not None and len(out) == 1 else _wrap(res)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        mod = {"numpy": _this, "numpy.linalg": linalg, "numpy.fft": fft}.get(func.__module__, _this)
        f = getattr(mod, func.__name__, None)
        if f is None:
            return NotImplemented
        return f(*args, **kwargs)


def _binary(name: str, inplace: bool = False) -> Any:
    np_op = getattr(np.ndarray, name)

    def op(self: ndarray, other: Any) -> Any:
        o = _operand(other, name)
        if o is NotImplemented:
            return NotImplemented
        counters.launches += 1
        res = np_op(self._a, o)
        if inplace:
            return self
        return NotImplemented if res is NotImplemented else _wrap(res)

    op.__name__ = name
    return op


def _unary(name: str) -> Any:
    np_op = getattr(np.ndarray, name)

    def op(self: ndarray) -> ndarray:
        counters.launches += 1
        return _wrap(np_op(self._a))

    op.__name__ = name
    return op


VIEW_METHODS = {"reshape", "ravel", "transpose", "swapaxes", "squeeze", "view", "diagonal", "flatten_view"}


def _method(name: str) -> Any:
    def meth(self: ndarray, *args: Any, **kwargs: Any) -> Any:
        args = _unwrap(args, f"ndarray.{name}")
        kwargs = {k: _unwrap(v, f"ndarray.{name}") for k, v in kwargs.items()}
        if name not in VIEW_METHODS:
            counters.launches += 1
        res = getattr(self._a, name)(*args, **kwargs)
        return None if res is None else _wrap(res)

    meth.__name__ = name
    return meth


def _astype(self: ndarray, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None,
            copy: bool = True) -> ndarray:
    if not copy and np.dtype(dtype) == self._a.dtype:
        return self
    counters.launches += 1
    return ndarray(self._a.astype(dtype, order=order))


_SPECIAL = {"get", "item", "tolist", "T", "real", "imag", "shape", "ndim", "dtype", "size", "nbytes", "itemsize",
            "strides", "flags", "astype"}
for _name in SPEC["ndarray"]:
    if _name.startswith("__") or _name in _SPECIAL or not hasattr(np.ndarray, _name):
        continue
    setattr(ndarray, _name, _method(_name))
ndarray.astype = _astype  # type: ignore[method-assign]
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift",
              "rshift"):
    setattr(ndarray, f"__{_name}__", _binary(f"__{_name}__"))
    setattr(ndarray, f"__r{_name}__", _binary(f"__r{_name}__"))
    if _name != "matmul":
        setattr(ndarray, f"__i{_name}__", _binary(f"__i{_name}__", inplace=True))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(ndarray, f"__{_name}__", _binary(f"__{_name}__"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", _unary(f"__{_name}__"))
ndarray.__module__ = "cupy._core.core"  # backend.array_module recognises CuPy arrays by their module


# --- module-level functions -------------------------------------------------------------------------

def _check_call(name: str, params: list[str] | None, args: tuple, kwargs: dict, restrictions: dict) -> None:
    if params is not None:
        bad = [k for k in kwargs if k not in params]
        if bad or len(args) > len(params):
            raise TypeError(f"{name}() got an unexpected keyword argument {bad[0]!r}" if bad
                            else f"{name}() takes at most {len(params)} arguments ({len(args)} given)")
    for p, why in restrictions.get(name, {}).items():
        given = kwargs.get(p)
        if given is None and params is not None and p in params and params.index(p) < len(args):
            given = args[params.index(p)]
        if given is not None:
            raise NotImplementedError(f"cupy.{name}({p}=...): {why}")


def _function(name: str, np_func: Any, params: list[str] | None, restrictions: dict) -> Any:
    host_ok = name in CONSTRUCTORS

    @functools.wraps(np_func)
    def f(*args: Any, **kwargs: Any) -> Any:
        _check_call(name, params, args, kwargs, restrictions)
        args = _unwrap(args, f"cupy.{name}", host_ok)
        kwargs = {k: _unwrap(v, f"cupy.{name}", host_ok) for k, v in kwargs.items()}
        counters.launches += 1
        res = np_func(*args, **kwargs)
        if name in BOOL_TO_ARRAY:
            res = np.asarray(res)
        return _wrap(res)

    return f


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> np.ndarray:
    """Device -> host copy (a sync); NumPy input is returned as an array, like CuPy."""
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*args: Any) -> Any:
    return _this if builtins.any(isinstance(a, ndarray) for a in args) else np


def _not_emulated(name: str) -> Any:
    def f(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"cupy.{name}: the CuPy stand-in cannot compile or run CUDA code")

    return f


class _Stream:
    def synchronize(self) -> None:
        counters.syncs += 1


class _MemoryPool:
    def used_bytes(self) -> int:
        return 0

    def total_bytes(self) -> int:
        return 0

    def free_all_blocks(self) -> None:
        pass


_POOL = _MemoryPool()
# device memory the stand-in reports (tests may lower it to exercise memory-bounded batching)
mem_info = {"free": 8 << 30, "total": 16 << 30}


class _Device:
    def __init__(self, device: int = 0) -> None:
        self.id = device

    @property
    def mem_info(self) -> tuple[int, int]:
        return mem_info["free"], mem_info["total"]

    def synchronize(self) -> None:
        counters.syncs += 1


cuda = types.ModuleType("cupy.cuda")
cuda.Device = _Device
cuda.get_current_stream = lambda: _Stream()
cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: 1, runtimeGetVersion=lambda: 12080,
                                     getDeviceProperties=lambda i: {"name": b"CuPy stand-in", "totalGlobalMem":
                                                                    mem_info["total"]})


# --- random: deliberately different streams from NumPy's for the same seed ---------------------------

_SALT = 0x5EED_C0DE


def _salted(seed: Any) -> Any:
    return None if seed is None else [int(seed) % 2**63, _SALT]


def _rng_method(name: str, gen: Any) -> Any:
    def meth(*args: Any, **kwargs: Any) -> Any:
        args = _unwrap(args, f"random.{name}")
        kwargs = {k: _unwrap(v, f"random.{name}") for k, v in kwargs.items()}
        counters.launches += 1
        return _wrap(getattr(gen(), name)(*args, **kwargs))

    meth.__name__ = name
    return meth


class RandomState:
    """cupy.random.RandomState: NumPy's legacy methods on a salted MT19937 stream."""

    def __init__(self, seed: Any = None) -> None:
        self._rs = np.random.RandomState(np.random.SeedSequence(_salted(seed)).generate_state(1)[0])
        for name in SPEC["RandomState"]:
            if hasattr(self._rs, name) and name != "seed":
                setattr(self, name, _rng_method(name, lambda: self._rs))


class Generator:
    """cupy.random.Generator: only CuPy's methods, on a salted PCG64 stream."""

    def __init__(self, seed: Any = None) -> None:
        self._g = np.random.Generator(np.random.PCG64(_salted(seed)))
        for name in SPEC["Generator"]:
            if not name.startswith("_") and hasattr(self._g, name):
                setattr(self, name, _rng_method(name, lambda: self._g))


def default_rng(seed: Any = None) -> Generator:
    return Generator(seed)


def _namespace(name: str, source: Any, key: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    for attr, params in SPEC["namespaces"][key].items():
        obj = getattr(source, attr, None)
        if obj is None:
            continue
        if params == "constant" or isinstance(obj, type):
            setattr(mod, attr, obj)
        else:
            setattr(mod, attr, _function(attr, obj, params, SPEC["restrictions"].get(key, {})))
    return mod


linalg = _namespace("cupy.linalg", np.linalg, "linalg")
fft = _namespace("cupy.fft", np.fft, "fft")
random = _namespace("cupy.random", np.random, "random")
random.RandomState = RandomState
random.Generator = Generator
random.default_rng = default_rng
_global_rs = RandomState(0)
for _name in SPEC["RandomState"]:
    if hasattr(random, _name) and not _name.startswith("_") and _name != "seed":
        setattr(random, _name, getattr(_global_rs, _name))
random.seed = lambda seed=None: setattr(_global_rs, "_rs", RandomState(seed)._rs)

_this = sys.modules[__name__]
_MISSING = object()
for _name, _params in SPEC["namespaces"]["cupy"].items():
    if _name in ("ndarray", "linalg", "fft", "random", "cuda") or hasattr(_this, _name):
        continue
    _obj = getattr(np, _name, _MISSING)
    if _obj is _MISSING:
        if _name in ("RawKernel", "RawModule", "ElementwiseKernel", "ReductionKernel", "fuse"):
            setattr(_this, _name, _not_emulated(_name))
        elif _name == "get_default_memory_pool":
            setattr(_this, _name, lambda: _POOL)
        continue
    if _params == "constant" or isinstance(_obj, type):
        setattr(_this, _name, _obj)
    else:
        setattr(_this, _name, _function(_name, _obj, _params, RESTRICTIONS))


def __getattr__(name: str) -> Any:
    raise AttributeError(f"module 'cupy' (stand-in for CuPy {__version__}) has no attribute {name!r}")


MODULES = {"cupy": _this, "cupy.linalg": linalg, "cupy.fft": fft, "cupy.random": random, "cupy.cuda": cuda}


def install(monkeypatch: Any) -> types.ModuleType:
    """Make ``import cupy`` (and its submodules) load the stand-in for the test's duration; reset counters."""
    for name, mod in MODULES.items():
        monkeypatch.setitem(sys.modules, name, mod)
    counters.reset()
    return _this
