"""ctypes declarations of the runtime's C API (runtime/include/sparse_attn/runtime.h).

Torch-free. The structures mirror the header field by field; keep them in sync.
"""

import ctypes
import os

MAX_RANK = 8
LIBRARY_NAME = "libsparse_attn_runtime.so"

# sa_status
OK = 0
ERROR_INVALID_ARGUMENT = 1
ERROR_DRIVER_NOT_FOUND = 2
ERROR_DRIVER = 3
ERROR_BUNDLE = 4
ERROR_NOT_FOUND = 5
ERROR_VALIDATION = 6
ERROR_OUT_OF_MEMORY = 7

# sa_dtype, by the names the manifest uses.
DTYPES = {
    "f16": 1,
    "bf16": 2,
    "f32": 3,
    "f64": 4,
    "i8": 5,
    "u8": 6,
    "i16": 7,
    "i32": 8,
    "i64": 9,
    "bool": 10,
}
DTYPE_NAMES = {code: name for name, code in DTYPES.items()}

# sa_scalar_type
SCALAR_TYPES = {"i32": 1, "i64": 2, "f32": 3}
SCALAR_TYPE_NAMES = {code: name for name, code in SCALAR_TYPES.items()}

# sa_access
ACCESS_NAMES = {1: "read", 2: "write", 3: "read_write"}


class Tensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_uint64),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int32),
        ("sizes", ctypes.c_int64 * MAX_RANK),
        ("strides", ctypes.c_int64 * MAX_RANK),
        ("device", ctypes.c_int32),
    ]


class TensorArg(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("tensor", Tensor)]


class ScalarArg(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("type", ctypes.c_int),
        ("int_value", ctypes.c_int64),
        ("float_value", ctypes.c_double),
    ]


class BundleInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("path", ctypes.c_char_p),
        ("kernel_count", ctypes.c_size_t),
    ]


class KernelInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("op", ctypes.c_char_p),
        ("entry", ctypes.c_char_p),
        ("specialization", ctypes.c_char_p),
        ("tuning", ctypes.c_char_p),
        ("bundle", ctypes.c_void_p),
        ("tensor_count", ctypes.c_size_t),
        ("scalar_count", ctypes.c_size_t),
    ]


class KernelTensorInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int32),
        ("static_sizes", ctypes.c_int64 * MAX_RANK),
        ("alignment", ctypes.c_int64),
        ("access", ctypes.c_int),
    ]


class KernelScalarInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int)]


def _declare(library):
    """Gives every function of the C API its signature."""
    p = ctypes.POINTER
    handle = ctypes.c_void_p
    status = ctypes.c_int
    signatures = {
        "sa_version": (ctypes.c_char_p, []),
        "sa_bundle_format_version": (ctypes.c_int32, []),
        "sa_status_name": (ctypes.c_char_p, [status]),
        "sa_last_error": (ctypes.c_char_p, []),
        "sa_dtype_name": (ctypes.c_char_p, [ctypes.c_int]),
        "sa_runtime_create": (status, [p(handle)]),
        "sa_runtime_destroy": (None, [handle]),
        "sa_runtime_load_bundle": (status, [handle, ctypes.c_char_p, p(handle)]),
        "sa_runtime_bundle_count": (ctypes.c_size_t, [handle]),
        "sa_runtime_bundle_at": (handle, [handle, ctypes.c_size_t]),
        "sa_runtime_find_kernel": (status, [handle, ctypes.c_char_p, ctypes.c_char_p, p(handle)]),
        "sa_bundle_get_info": (status, [handle, p(BundleInfo)]),
        "sa_bundle_find_kernel": (status, [handle, ctypes.c_char_p, p(handle)]),
        "sa_bundle_kernel_at": (handle, [handle, ctypes.c_size_t]),
        "sa_kernel_get_info": (status, [handle, p(KernelInfo)]),
        "sa_kernel_get_tensor": (status, [handle, ctypes.c_size_t, p(KernelTensorInfo)]),
        "sa_kernel_get_scalar": (status, [handle, ctypes.c_size_t, p(KernelScalarInfo)]),
        "sa_launch": (
            status,
            [handle, p(TensorArg), ctypes.c_size_t, p(ScalarArg), ctypes.c_size_t, handle],
        ),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes
    return library


def library_candidates():
    """Where the runtime library is looked for, in order."""
    candidates = []
    override = os.environ.get("SPARSE_ATTN_RUNTIME_LIBRARY")
    if override:
        candidates.append(override)
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", LIBRARY_NAME))
    candidates.append(LIBRARY_NAME)  # the dynamic loader's search path
    return candidates


def load_library():
    """Loads and declares the runtime library; OSError says where it looked."""
    failures = []
    for candidate in library_candidates():
        try:
            return _declare(ctypes.CDLL(candidate))
        except OSError as error:
            failures.append(f"{candidate}: {error}")
            if candidate == os.environ.get("SPARSE_ATTN_RUNTIME_LIBRARY"):
                break  # an explicit choice that fails is not silently replaced
    raise OSError(
        "sparse-attn runtime library not found (build it with `cmake -S runtime -B build-runtime "
        "&& cmake --build build-runtime` and set SPARSE_ATTN_RUNTIME_LIBRARY to "
        f"build-runtime/lib/{LIBRARY_NAME}); tried:\n  " + "\n  ".join(failures)
    )
