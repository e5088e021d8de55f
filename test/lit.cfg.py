# -*- Python -*-
# lit configuration of the sparse-attn test suite.

import os
import shutil

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "SPARSE_ATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".py", ".test"]
# test/lib holds the Python test helpers; its lit.local.cfg keeps only its
# self-test.
config.excludes = [
    "lit.cfg.py", "lit.site.cfg.py", "Inputs", "gpu", "consumer", "__pycache__"
]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.sparse_attn_obj_root, "test")

config.environment["FILECHECK_OPTS"] = (
    "-enable-var-scope --allow-unused-prefixes=false"
)
llvm_config.with_system_environment(["HOME", "TMP", "TEMP", "PATH"])
# RUN lines call LLVM's `not` (and the like) by name.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.use_default_substitutions()

# Python tests import the shared helpers in test/lib.
config.environment["PYTHONPATH"] = os.pathsep.join(
    [os.path.join(config.sparse_attn_src_root, "test", "lib")]
    + [p for p in [os.environ.get("PYTHONPATH")] if p]
)

# Keep the source tree free of __pycache__ folders.
config.environment["PYTHONDONTWRITEBYTECODE"] = "1"

# use_default_substitutions maps %python to lit's own interpreter; the tests
# need the configured one (it has NumPy), so replace that mapping.
python = config.python_executable or shutil.which("python3")
config.substitutions = [s for s in config.substitutions if s[0] != "%python"]
config.substitutions.append(("%python", python))
config.substitutions.append(("%src_root", config.sparse_attn_src_root))
config.substitutions.append(("%obj_root", config.sparse_attn_obj_root))

# Host execution of lowered programs (test/Integration) with MLIR's runtime
# support libraries (printMemrefF32, ...).
for lib in ["mlir_runner_utils", "mlir_c_runner_utils"]:
    config.substitutions.append(
        ("%" + lib, os.path.join(config.llvm_lib_dir, "lib" + lib + ".so"))
    )

tool_dirs = [config.sparse_attn_tools_dir, config.llvm_tools_dir]
tools = [
    ToolSubst("sparse-attn-opt", unresolved="ignore"),
    ToolSubst("sparse-attn-run", unresolved="ignore"),
    ToolSubst("sparse-attn-compile-gpu", unresolved="ignore"),
    ToolSubst("mlir-runner", unresolved="ignore"),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# Python tests find the tools through the environment. The numeric tests run
# the pipeline named by `lit -Dpipeline=NAME` (default: the reference
# lowering), so that the tiled pipelines can run the same tests.
config.environment["SPARSE_ATTN_RUN"] = os.path.join(
    config.sparse_attn_tools_dir, "sparse-attn-run"
)
config.environment["SPARSE_ATTN_OPT"] = os.path.join(
    config.sparse_attn_tools_dir, "sparse-attn-opt"
)
pipeline = lit_config.params.get("pipeline", "reference")
config.environment["SPARSE_ATTN_PIPELINE"] = pipeline
config.substitutions.append(("%pipeline", pipeline))
for name in ["SPARSE_ATTN_TEST_SEED", "SPARSE_ATTN_FUZZ_MUTANTS", "SPARSE_ATTN_FUZZ_JOBS"]:
    if name in os.environ:
        config.environment[name] = os.environ[name]
