"""Python view of the runtime: bundles, kernels, launches, errors.

Torch-free: tensors are anything with ``shape``, ``stride()``, ``dtype``,
``device`` and ``data_ptr()`` (PyTorch tensors, or test fakes), or explicit
:class:`TensorView` objects. The default runtime loads the bundles named by
``$SPARSE_ATTN_BUNDLE_PATH`` and those shipped in the package's ``bundles/``
folder.
"""

import ctypes
import glob
import os
import threading

from . import _capi


class SparseAttnError(RuntimeError):
    """An error reported by the runtime; ``status`` is its sa_status name."""

    def __init__(self, message, status="SA_ERROR"):
        super().__init__(message)
        self.status = status


class DriverNotFoundError(SparseAttnError):
    """The CUDA driver (libcuda.so.1) could not be loaded."""


class DriverError(SparseAttnError):
    """A CUDA driver call failed."""


class BundleError(SparseAttnError):
    """A bundle could not be read or its manifest is invalid."""


class KernelNotFoundError(SparseAttnError):
    """No loaded bundle has a kernel for the requested specialization."""


class ValidationError(SparseAttnError, ValueError):
    """Arguments that the kernel (or the operation) does not accept."""


_ERRORS = {
    _capi.ERROR_INVALID_ARGUMENT: ValidationError,
    _capi.ERROR_DRIVER_NOT_FOUND: DriverNotFoundError,
    _capi.ERROR_DRIVER: DriverError,
    _capi.ERROR_BUNDLE: BundleError,
    _capi.ERROR_NOT_FOUND: KernelNotFoundError,
    _capi.ERROR_VALIDATION: ValidationError,
    _capi.ERROR_OUT_OF_MEMORY: SparseAttnError,
}

# torch dtypes print as "torch.float16"; the runtime names them "f16".
_TORCH_DTYPES = {
    "torch.float16": "f16",
    "torch.half": "f16",
    "torch.bfloat16": "bf16",
    "torch.float32": "f32",
    "torch.float": "f32",
    "torch.float64": "f64",
    "torch.double": "f64",
    "torch.int8": "i8",
    "torch.uint8": "u8",
    "torch.int16": "i16",
    "torch.int32": "i32",
    "torch.int": "i32",
    "torch.int64": "i64",
    "torch.long": "i64",
    "torch.bool": "bool",
}


def dtype_name(dtype):
    """The runtime's name ("bf16", ...) of a torch dtype or of such a name."""
    text = str(dtype)
    if text in _capi.DTYPES:
        return text
    name = _TORCH_DTYPES.get(text)
    if name is None:
        raise ValidationError(
            f"dtype {text} is not supported by the runtime", "SA_ERROR_VALIDATION"
        )
    return name


class TensorView:
    """A strided view of device memory as the runtime sees it: sizes and
    strides (in elements) in the kernel's logical dimension order."""

    __slots__ = ("data", "dtype", "sizes", "strides", "device")

    def __init__(self, data, dtype, sizes, strides, device):
        self.data = int(data)
        self.dtype = dtype_name(dtype)
        self.sizes = tuple(int(s) for s in sizes)
        self.strides = tuple(int(s) for s in strides)
        self.device = int(device)

    @classmethod
    def of(cls, tensor):
        """The view of a CUDA tensor (torch.Tensor or anything alike)."""
        if isinstance(tensor, cls):
            return tensor
        device = tensor.device
        if getattr(device, "type", "cuda") != "cuda":
            raise ValidationError(
                f"expected a CUDA tensor, got one on {device}", "SA_ERROR_VALIDATION"
            )
        index = device.index if device.index is not None else 0
        return cls(
            tensor.data_ptr(), tensor.dtype, tuple(tensor.shape), tuple(tensor.stride()), index
        )

    def permuted(self, order):
        """The same memory with dimensions reordered: dimension i of the
        result is dimension order[i] of this view."""
        return TensorView(
            self.data,
            self.dtype,
            [self.sizes[d] for d in order],
            [self.strides[d] for d in order],
            self.device,
        )

    def __repr__(self):
        return (
            f"TensorView(data={self.data:#x}, dtype={self.dtype}, sizes={list(self.sizes)}, "
            f"strides={list(self.strides)}, device={self.device})"
        )


def specialization_string(specialization):
    """{"causal": True, "alpha": 1.5} -> "alpha=1.5,causal=true" (the C API's form)."""
    if isinstance(specialization, str):
        return specialization
    items = []
    for key in sorted(specialization):
        value = specialization[key]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = str(value)
        items.append(f"{key}={text}")
    return ",".join(items)


class TensorInfo:
    """A kernel's declared tensor."""

    def __init__(self, info):
        self.name = info.name.decode()
        self.dtype = _capi.DTYPE_NAMES.get(info.dtype, "invalid")
        self.rank = info.rank
        self.static_sizes = tuple(
            None if info.static_sizes[d] < 0 else info.static_sizes[d] for d in range(info.rank)
        )
        self.alignment = info.alignment
        self.access = _capi.ACCESS_NAMES.get(info.access, "invalid")

    def __repr__(self):
        return f"TensorInfo({self.name}: {self.dtype}, rank {self.rank}, {self.access})"


class Kernel:
    """A kernel of a loaded bundle. Handles stay valid as long as their runtime."""

    def __init__(self, runtime, handle):
        self._runtime = runtime
        self._handle = handle
        library = runtime.library
        info = _capi.KernelInfo()
        runtime._check(library.sa_kernel_get_info(handle, ctypes.byref(info)))
        self.name = info.name.decode()
        self.op = info.op.decode()
        self.entry = info.entry.decode()
        self.specialization = info.specialization.decode()
        self.tuning = info.tuning.decode()
        self.tensors = []
        for index in range(info.tensor_count):
            tensor = _capi.KernelTensorInfo()
            runtime._check(library.sa_kernel_get_tensor(handle, index, ctypes.byref(tensor)))
            self.tensors.append(TensorInfo(tensor))
        self.scalars = {}
        for index in range(info.scalar_count):
            scalar = _capi.KernelScalarInfo()
            runtime._check(library.sa_kernel_get_scalar(handle, index, ctypes.byref(scalar)))
            self.scalars[scalar.name.decode()] = _capi.SCALAR_TYPE_NAMES[scalar.type]

    def specialization_dict(self):
        """The specialization as a dict of strings ("alpha": "1.5")."""
        if not self.specialization:
            return {}
        return dict(item.split("=", 1) for item in self.specialization.split(","))

    def launch(self, tensors, scalars=None, stream=0):
        """Launches on `stream` (a CUstream as an int; 0 is the legacy
        default stream). `tensors` maps names to tensors or TensorViews,
        `scalars` names to Python numbers (typed by the kernel's
        declaration). Raises a SparseAttnError subclass on failure."""
        tensor_args = (_capi.TensorArg * max(len(tensors), 1))()
        for slot, (name, tensor) in zip(tensor_args, tensors.items()):
            view = TensorView.of(tensor)
            if len(view.sizes) > _capi.MAX_RANK:
                raise ValidationError(
                    f"kernel \"{self.name}\": tensor '{name}' has rank {len(view.sizes)}, more "
                    f"than the runtime's {_capi.MAX_RANK}",
                    "SA_ERROR_VALIDATION",
                )
            slot.name = name.encode()
            slot.tensor.data = view.data
            slot.tensor.dtype = _capi.DTYPES[view.dtype]
            slot.tensor.rank = len(view.sizes)
            for d, (size, stride) in enumerate(zip(view.sizes, view.strides)):
                slot.tensor.sizes[d] = size
                slot.tensor.strides[d] = stride
            slot.tensor.device = view.device
        scalars = scalars or {}
        scalar_args = (_capi.ScalarArg * max(len(scalars), 1))()
        for slot, (name, value) in zip(scalar_args, scalars.items()):
            slot.name = name.encode()
            declared = self.scalars.get(name, "f32" if isinstance(value, float) else "i64")
            slot.type = _capi.SCALAR_TYPES[declared]
            if declared == "f32":
                slot.float_value = float(value)
            elif isinstance(value, bool) or not float(value).is_integer():
                raise ValidationError(
                    f"kernel \"{self.name}\": scalar '{name}' is {declared}, got {value!r}",
                    "SA_ERROR_VALIDATION",
                )
            else:
                slot.int_value = int(value)
        self._runtime._check(
            self._runtime.library.sa_launch(
                self._handle,
                tensor_args,
                len(tensors),
                scalar_args,
                len(scalars),
                ctypes.c_void_p(stream or None),
            )
        )

    def __repr__(self):
        return f"Kernel({self.name}: {self.op} {{{self.specialization}}})"


class Bundle:
    """A loaded bundle and its kernels."""

    def __init__(self, runtime, handle):
        info = _capi.BundleInfo()
        runtime._check(runtime.library.sa_bundle_get_info(handle, ctypes.byref(info)))
        self.name = info.name.decode()
        self.path = info.path.decode()
        self.kernels = [
            Kernel(runtime, runtime.library.sa_bundle_kernel_at(handle, index))
            for index in range(info.kernel_count)
        ]

    def kernel(self, name):
        for kernel in self.kernels:
            if kernel.name == name:
                return kernel
        raise KernelNotFoundError(
            f'bundle "{self.name}" has no kernel named "{name}" (it has: '
            + ", ".join(k.name for k in self.kernels)
            + ")",
            "SA_ERROR_NOT_FOUND",
        )

    def __repr__(self):
        return f"Bundle({self.name} from {self.path}, {len(self.kernels)} kernels)"


class Runtime:
    """One sa_runtime: its bundles and their kernels. Thread-safe."""

    def __init__(self, library=None):
        self.library = library or _capi.load_library()
        handle = ctypes.c_void_p()
        self._check(self.library.sa_runtime_create(ctypes.byref(handle)))
        # Never destroyed: kernels may be queued on streams until the process
        # ends, and the driver may be gone before interpreter shutdown.
        self._handle = handle
        self.bundles = []
        self._kernels = {}  # (op, specialization string) -> Kernel, for repeated lookups
        self._lock = threading.Lock()

    def _check(self, status):
        if status == _capi.OK:
            return
        message = self.library.sa_last_error().decode()
        name = self.library.sa_status_name(status).decode()
        raise _ERRORS.get(status, SparseAttnError)(message, name)

    def load_bundle(self, path):
        handle = ctypes.c_void_p()
        self._check(
            self.library.sa_runtime_load_bundle(
                self._handle, os.fsencode(path), ctypes.byref(handle)
            )
        )
        bundle = Bundle(self, handle)
        with self._lock:
            self.bundles.append(bundle)
        return bundle

    def find_kernel(self, op, specialization):
        """The kernel for `op` with exactly this specialization (a dict or
        "key=value,..."); KernelNotFoundError lists what is available."""
        text = specialization_string(specialization)
        with self._lock:
            kernel = self._kernels.get((op, text))
        if kernel is not None:
            return kernel
        handle = ctypes.c_void_p()
        self._check(
            self.library.sa_runtime_find_kernel(
                self._handle, op.encode(), text.encode(), ctypes.byref(handle)
            )
        )
        for bundle in self.bundles:
            for candidate in bundle.kernels:
                if candidate._handle == handle.value:
                    kernel = candidate
        if kernel is None:  # a bundle loaded through another Runtime object
            kernel = Kernel(self, handle.value)
        with self._lock:
            self._kernels[(op, text)] = kernel
        return kernel

    def version(self):
        return self.library.sa_version().decode()


def bundle_paths():
    """The bundles the default runtime loads: each entry of
    $SPARSE_ATTN_BUNDLE_PATH (os.pathsep-separated) that is a .bundle
    directory, every *.bundle inside the other entries, then the package's
    own bundles/*.bundle."""
    paths = []
    for entry in filter(None, os.environ.get("SPARSE_ATTN_BUNDLE_PATH", "").split(os.pathsep)):
        if os.path.isfile(os.path.join(entry, "manifest.json")):
            paths.append(entry)
        else:
            paths.extend(sorted(glob.glob(os.path.join(entry, "*.bundle"))))
    shipped = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundles")
    paths.extend(sorted(glob.glob(os.path.join(shipped, "*.bundle"))))
    return paths


_default = None
_default_lock = threading.Lock()


def default_runtime():
    """The process's runtime, created on first use with bundle_paths() loaded."""
    global _default
    with _default_lock:
        if _default is None:
            runtime = Runtime()
            for path in bundle_paths():
                runtime.load_bundle(path)
            _default = runtime
        return _default
