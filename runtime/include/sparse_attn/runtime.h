/* C API of the sparse-attn runtime: loads kernel bundles (PTX/cubin plus a
 * manifest, see docs/design/kernel-bundles.md) and launches their kernels on
 * a caller's CUDA stream after validating every argument.
 *
 * Conventions:
 * - Every function that can fail returns an sa_status; on failure the
 *   calling thread's sa_last_error() describes what went wrong. No function
 *   aborts, throws or prints.
 * - The CUDA driver (libcuda.so.1, or $SPARSE_ATTN_CUDA_DRIVER) is loaded on
 *   first use, so bundles can be loaded and inspected on machines without a
 *   GPU; only sa_launch needs the driver.
 * - All functions are thread-safe. Handles returned by the runtime (bundles,
 *   kernels, strings in info structs) stay valid until sa_runtime_destroy.
 * - sa_launch never synchronises the host and may be captured into a CUDA
 *   graph (warm a kernel up once before capturing: see sa_launch).
 */
#ifndef SPARSE_ATTN_RUNTIME_H
#define SPARSE_ATTN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#define SA_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

#define SA_RUNTIME_VERSION_MAJOR 0
#define SA_RUNTIME_VERSION_MINOR 1
#define SA_RUNTIME_VERSION_PATCH 0

/* The manifest format version this runtime reads. */
#define SA_BUNDLE_FORMAT_VERSION 1

/* Largest tensor rank a kernel may declare. */
#define SA_MAX_RANK 8

typedef enum sa_status {
  SA_OK = 0,
  /* A null handle or pointer, or an argument of an sa_ function that is
   * malformed by itself (not with respect to a kernel). */
  SA_ERROR_INVALID_ARGUMENT = 1,
  /* libcuda.so.1 could not be loaded or lacks an entry point we need. */
  SA_ERROR_DRIVER_NOT_FOUND = 2,
  /* A CUDA driver call failed (the message names the call and the error). */
  SA_ERROR_DRIVER = 3,
  /* A bundle could not be read, or its manifest is invalid. */
  SA_ERROR_BUNDLE = 4,
  /* No kernel has the requested name or specialization. */
  SA_ERROR_NOT_FOUND = 5,
  /* The launch arguments violate the kernel's requirements. */
  SA_ERROR_VALIDATION = 6,
  /* Host or device memory for the runtime's own bookkeeping ran out. */
  SA_ERROR_OUT_OF_MEMORY = 7
} sa_status;

typedef enum sa_dtype {
  SA_DTYPE_INVALID = 0,
  SA_DTYPE_F16 = 1,
  SA_DTYPE_BF16 = 2,
  SA_DTYPE_F32 = 3,
  SA_DTYPE_F64 = 4,
  SA_DTYPE_I8 = 5,
  SA_DTYPE_U8 = 6,
  SA_DTYPE_I16 = 7,
  SA_DTYPE_I32 = 8,
  SA_DTYPE_I64 = 9,
  SA_DTYPE_BOOL = 10
} sa_dtype;

typedef enum sa_scalar_type {
  SA_SCALAR_INVALID = 0,
  SA_SCALAR_I32 = 1,
  SA_SCALAR_I64 = 2,
  SA_SCALAR_F32 = 3
} sa_scalar_type;

/* How a kernel uses a tensor. */
typedef enum sa_access {
  SA_ACCESS_READ = 1,
  SA_ACCESS_WRITE = 2,
  SA_ACCESS_READ_WRITE = 3
} sa_access;

typedef struct sa_runtime sa_runtime;
typedef struct sa_bundle sa_bundle;
typedef struct sa_kernel sa_kernel;

/* A strided view of device memory. Element (i0, ..., i{rank-1}) lives at
 * data + sum_d i_d * strides[d] * element_size. Entries past `rank` are
 * ignored. */
typedef struct sa_tensor {
  uint64_t data; /* device address (CUdeviceptr) of element (0, ..., 0) */
  sa_dtype dtype;
  int32_t rank;
  int64_t sizes[SA_MAX_RANK];
  int64_t strides[SA_MAX_RANK]; /* in elements, not bytes */
  int32_t device;               /* CUDA device ordinal holding `data` */
} sa_tensor;

/* A tensor bound to the kernel's tensor of the same name. */
typedef struct sa_tensor_arg {
  const char *name;
  sa_tensor tensor;
} sa_tensor_arg;

/* A scalar bound to the kernel's scalar of the same name. `type` must equal
 * the declared type; I32/I64 read int_value (range-checked), F32 reads
 * float_value (rounded to float). */
typedef struct sa_scalar_arg {
  const char *name;
  sa_scalar_type type;
  int64_t int_value;
  double float_value;
} sa_scalar_arg;

typedef struct sa_bundle_info {
  const char *name; /* the manifest's "name" */
  const char *path; /* the directory it was loaded from */
  size_t kernel_count;
} sa_bundle_info;

typedef struct sa_kernel_info {
  const char *name;  /* unique within its bundle */
  const char *op;    /* the operation it implements, e.g. "attention" */
  const char *entry; /* the PTX entry point */
  /* Canonical "key=value,key=value" with keys sorted: the form that
   * sa_runtime_find_kernel accepts. */
  const char *specialization;
  const char *tuning; /* informational, same form */
  const sa_bundle *bundle;
  size_t tensor_count;
  size_t scalar_count;
} sa_kernel_info;

typedef struct sa_kernel_tensor_info {
  const char *name;
  sa_dtype dtype;
  int32_t rank;
  int64_t static_sizes[SA_MAX_RANK]; /* -1 where the extent is dynamic */
  int64_t alignment;                 /* required byte alignment of data */
  sa_access access;
} sa_kernel_tensor_info;

typedef struct sa_kernel_scalar_info {
  const char *name;
  sa_scalar_type type;
} sa_kernel_scalar_info;

/* "0.1.0". */
SA_API const char *sa_version(void);
/* SA_BUNDLE_FORMAT_VERSION of the library actually loaded. */
SA_API int32_t sa_bundle_format_version(void);
/* "SA_OK", "SA_ERROR_VALIDATION", ...; "SA_UNKNOWN_STATUS" otherwise. */
SA_API const char *sa_status_name(sa_status status);
/* The message of the last failed call on this thread ("" if none). Valid
 * until the next sa_ call on this thread. */
SA_API const char *sa_last_error(void);
/* Short name of a dtype ("f16", "bf16", "f32", ...; "invalid" otherwise). */
SA_API const char *sa_dtype_name(sa_dtype dtype);

SA_API sa_status sa_runtime_create(sa_runtime **runtime);
/* Unloads every module and frees the runtime's device memory. The caller
 * must make sure no launch of its kernels is still queued or running on a
 * context that is about to go away; null is accepted. */
SA_API void sa_runtime_destroy(sa_runtime *runtime);

/* Loads `path`, a `<name>.bundle` directory holding manifest.json and the
 * files it names; `bundle` may be null. Loading reads and validates every
 * file but does not touch the GPU. */
SA_API sa_status sa_runtime_load_bundle(sa_runtime *runtime, const char *path,
                                        const sa_bundle **bundle);
SA_API size_t sa_runtime_bundle_count(const sa_runtime *runtime);
/* Null when index is out of range. */
SA_API const sa_bundle *sa_runtime_bundle_at(const sa_runtime *runtime,
                                             size_t index);

/* Finds the kernel implementing `op` whose specialization has exactly the
 * keys of `specialization` ("key=value,...", order-free; values true/false,
 * numbers (compared numerically) or bare strings) with equal values.
 * Bundles are searched in load order. */
SA_API sa_status sa_runtime_find_kernel(sa_runtime *runtime, const char *op,
                                        const char *specialization,
                                        const sa_kernel **kernel);

SA_API sa_status sa_bundle_get_info(const sa_bundle *bundle,
                                    sa_bundle_info *info);
SA_API sa_status sa_bundle_find_kernel(const sa_bundle *bundle,
                                       const char *name,
                                       const sa_kernel **kernel);
/* Null when index is out of range. */
SA_API const sa_kernel *sa_bundle_kernel_at(const sa_bundle *bundle,
                                            size_t index);

SA_API sa_status sa_kernel_get_info(const sa_kernel *kernel,
                                    sa_kernel_info *info);
SA_API sa_status sa_kernel_get_tensor(const sa_kernel *kernel, size_t index,
                                      sa_kernel_tensor_info *info);
SA_API sa_status sa_kernel_get_scalar(const sa_kernel *kernel, size_t index,
                                      sa_kernel_scalar_info *info);

/* Validates the arguments against the kernel's manifest entry (every tensor
 * and scalar bound exactly once by name; dtype, rank, static extents,
 * alignment, constraints; each tensor's memory lies in one device
 * allocation on the current context's device; written tensors overlap
 * nothing), loads the kernel's module into the current CUDA context if
 * needed (cubin when the device matches its target, else PTX JIT) and
 * enqueues it on `stream` (a CUstream; null is the legacy default stream,
 * which must belong to the current context). Never synchronises the host.
 *
 * Graph capture: the first launch of a kernel in a context loads its module,
 * and the first launches that use TMA descriptors allocate the descriptor
 * arena; do those outside capture (one warm-up launch), as every framework
 * does before capturing. */
SA_API sa_status sa_launch(const sa_kernel *kernel,
                           const sa_tensor_arg *tensors, size_t tensor_count,
                           const sa_scalar_arg *scalars, size_t scalar_count,
                           void *stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPARSE_ATTN_RUNTIME_H */
