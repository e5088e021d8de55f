// The C API: a thin, exception-free shell over Runtime that turns Status
// values into an sa_status plus the thread's last-error message.
#include "Runtime.h"

#include <new>

using namespace sparse_attn::runtime;

namespace {

thread_local std::string lastError;

sa_status report(const Status &status) {
  if (!status.ok())
    lastError = status.message();
  return status.code();
}

sa_status nullArgument(const char *function, const char *argument) {
  return report(Status::error(SA_ERROR_INVALID_ARGUMENT,
                              std::string(function) + ": " + argument + " is null"));
}

Runtime *unwrap(sa_runtime *runtime) { return reinterpret_cast<Runtime *>(runtime); }
const Runtime *unwrap(const sa_runtime *runtime) {
  return reinterpret_cast<const Runtime *>(runtime);
}
const Bundle *unwrap(const sa_bundle *bundle) { return reinterpret_cast<const Bundle *>(bundle); }
const Kernel *unwrap(const sa_kernel *kernel) { return reinterpret_cast<const Kernel *>(kernel); }
const sa_bundle *wrap(const Bundle *bundle) { return reinterpret_cast<const sa_bundle *>(bundle); }
const sa_kernel *wrap(const Kernel *kernel) { return reinterpret_cast<const sa_kernel *>(kernel); }

} // namespace

extern "C" {

const char *sa_version(void) { return "0.1.0"; }

int32_t sa_bundle_format_version(void) { return SA_BUNDLE_FORMAT_VERSION; }

const char *sa_status_name(sa_status status) {
  switch (status) {
  case SA_OK:
    return "SA_OK";
  case SA_ERROR_INVALID_ARGUMENT:
    return "SA_ERROR_INVALID_ARGUMENT";
  case SA_ERROR_DRIVER_NOT_FOUND:
    return "SA_ERROR_DRIVER_NOT_FOUND";
  case SA_ERROR_DRIVER:
    return "SA_ERROR_DRIVER";
  case SA_ERROR_BUNDLE:
    return "SA_ERROR_BUNDLE";
  case SA_ERROR_NOT_FOUND:
    return "SA_ERROR_NOT_FOUND";
  case SA_ERROR_VALIDATION:
    return "SA_ERROR_VALIDATION";
  case SA_ERROR_OUT_OF_MEMORY:
    return "SA_ERROR_OUT_OF_MEMORY";
  }
  return "SA_UNKNOWN_STATUS";
}

const char *sa_last_error(void) { return lastError.c_str(); }

const char *sa_dtype_name(sa_dtype dtype) {
  switch (dtype) {
  case SA_DTYPE_F16:
    return "f16";
  case SA_DTYPE_BF16:
    return "bf16";
  case SA_DTYPE_F32:
    return "f32";
  case SA_DTYPE_F64:
    return "f64";
  case SA_DTYPE_I8:
    return "i8";
  case SA_DTYPE_U8:
    return "u8";
  case SA_DTYPE_I16:
    return "i16";
  case SA_DTYPE_I32:
    return "i32";
  case SA_DTYPE_I64:
    return "i64";
  case SA_DTYPE_BOOL:
    return "bool";
  case SA_DTYPE_INVALID:
    break;
  }
  return "invalid";
}

sa_status sa_runtime_create(sa_runtime **runtime) {
  if (!runtime)
    return nullArgument("sa_runtime_create", "runtime");
  Runtime *created = new (std::nothrow) Runtime();
  if (!created)
    return report(Status::error(SA_ERROR_OUT_OF_MEMORY, "sa_runtime_create: out of memory"));
  *runtime = reinterpret_cast<sa_runtime *>(created);
  return SA_OK;
}

void sa_runtime_destroy(sa_runtime *runtime) { delete unwrap(runtime); }

sa_status sa_runtime_load_bundle(sa_runtime *runtime, const char *path, const sa_bundle **bundle) {
  if (!runtime)
    return nullArgument("sa_runtime_load_bundle", "runtime");
  if (!path)
    return nullArgument("sa_runtime_load_bundle", "path");
  const Bundle *loaded = nullptr;
  if (sa_status status = report(unwrap(runtime)->loadBundle(path, loaded)); status != SA_OK)
    return status;
  if (bundle)
    *bundle = wrap(loaded);
  return SA_OK;
}

size_t sa_runtime_bundle_count(const sa_runtime *runtime) {
  return runtime ? unwrap(runtime)->bundleCount() : 0;
}

const sa_bundle *sa_runtime_bundle_at(const sa_runtime *runtime, size_t index) {
  return runtime ? wrap(unwrap(runtime)->bundleAt(index)) : nullptr;
}

sa_status sa_runtime_find_kernel(sa_runtime *runtime, const char *op, const char *specialization,
                                 const sa_kernel **kernel) {
  if (!runtime)
    return nullArgument("sa_runtime_find_kernel", "runtime");
  if (!op)
    return nullArgument("sa_runtime_find_kernel", "op");
  if (!specialization)
    return nullArgument("sa_runtime_find_kernel", "specialization");
  if (!kernel)
    return nullArgument("sa_runtime_find_kernel", "kernel");
  const Kernel *found = nullptr;
  if (sa_status status = report(unwrap(runtime)->findKernel(op, specialization, found));
      status != SA_OK)
    return status;
  *kernel = wrap(found);
  return SA_OK;
}

sa_status sa_bundle_get_info(const sa_bundle *bundle, sa_bundle_info *info) {
  if (!bundle)
    return nullArgument("sa_bundle_get_info", "bundle");
  if (!info)
    return nullArgument("sa_bundle_get_info", "info");
  const Bundle &loaded = *unwrap(bundle);
  info->name = loaded.manifest().name.c_str();
  info->path = loaded.path().c_str();
  info->kernel_count = loaded.kernels().size();
  return SA_OK;
}

sa_status sa_bundle_find_kernel(const sa_bundle *bundle, const char *name,
                                const sa_kernel **kernel) {
  if (!bundle)
    return nullArgument("sa_bundle_find_kernel", "bundle");
  if (!name)
    return nullArgument("sa_bundle_find_kernel", "name");
  if (!kernel)
    return nullArgument("sa_bundle_find_kernel", "kernel");
  const Bundle &loaded = *unwrap(bundle);
  const Kernel *found = loaded.findKernel(name);
  if (!found) {
    std::string names;
    for (const auto &candidate : loaded.kernels())
      names += (names.empty() ? "" : ", ") + candidate->spec().name;
    return report(Status::error(SA_ERROR_NOT_FOUND, "bundle \"" + loaded.manifest().name +
                                                        "\" has no kernel named \"" + name +
                                                        "\" (it has: " + names + ")"));
  }
  *kernel = wrap(found);
  return SA_OK;
}

const sa_kernel *sa_bundle_kernel_at(const sa_bundle *bundle, size_t index) {
  if (!bundle || index >= unwrap(bundle)->kernels().size())
    return nullptr;
  return wrap(unwrap(bundle)->kernels()[index].get());
}

sa_status sa_kernel_get_info(const sa_kernel *kernel, sa_kernel_info *info) {
  if (!kernel)
    return nullArgument("sa_kernel_get_info", "kernel");
  if (!info)
    return nullArgument("sa_kernel_get_info", "info");
  const KernelSpec &spec = unwrap(kernel)->spec();
  info->name = spec.name.c_str();
  info->op = spec.op.c_str();
  info->entry = spec.entry.c_str();
  info->specialization = spec.canonicalSpecialization.c_str();
  info->tuning = spec.canonicalTuning.c_str();
  info->bundle = wrap(&unwrap(kernel)->bundle());
  info->tensor_count = spec.tensors.size();
  info->scalar_count = spec.scalars.size();
  return SA_OK;
}

sa_status sa_kernel_get_tensor(const sa_kernel *kernel, size_t index, sa_kernel_tensor_info *info) {
  if (!kernel)
    return nullArgument("sa_kernel_get_tensor", "kernel");
  if (!info)
    return nullArgument("sa_kernel_get_tensor", "info");
  const KernelSpec &spec = unwrap(kernel)->spec();
  if (index >= spec.tensors.size())
    return report(Status::error(SA_ERROR_INVALID_ARGUMENT,
                                "sa_kernel_get_tensor: index " + std::to_string(index) +
                                    " is out of range (the kernel has " +
                                    std::to_string(spec.tensors.size()) + " tensors)"));
  const TensorSpec &tensor = spec.tensors[index];
  info->name = tensor.name.c_str();
  info->dtype = tensor.dtype;
  info->rank = tensor.rank;
  for (int d = 0; d < SA_MAX_RANK; ++d)
    info->static_sizes[d] = d < tensor.rank ? tensor.staticSizes[d] : -1;
  info->alignment = tensor.alignment;
  info->access = tensor.access;
  return SA_OK;
}

sa_status sa_kernel_get_scalar(const sa_kernel *kernel, size_t index, sa_kernel_scalar_info *info) {
  if (!kernel)
    return nullArgument("sa_kernel_get_scalar", "kernel");
  if (!info)
    return nullArgument("sa_kernel_get_scalar", "info");
  const KernelSpec &spec = unwrap(kernel)->spec();
  if (index >= spec.scalars.size())
    return report(Status::error(SA_ERROR_INVALID_ARGUMENT,
                                "sa_kernel_get_scalar: index " + std::to_string(index) +
                                    " is out of range (the kernel has " +
                                    std::to_string(spec.scalars.size()) + " scalars)"));
  info->name = spec.scalars[index].name.c_str();
  info->type = spec.scalars[index].type;
  return SA_OK;
}

sa_status sa_launch(const sa_kernel *kernel, const sa_tensor_arg *tensors, size_t tensor_count,
                    const sa_scalar_arg *scalars, size_t scalar_count, void *stream) {
  if (!kernel)
    return nullArgument("sa_launch", "kernel");
  const Kernel &resolved = *unwrap(kernel);
  return report(resolved.bundle().runtime().launch(resolved, tensors, tensor_count, scalars,
                                                   scalar_count, static_cast<cu::Stream>(stream)));
}

} // extern "C"
