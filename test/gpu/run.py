#!/usr/bin/env python3
"""The GPU test driver: run on a machine with an NVIDIA GPU and PyTorch.

    python3 test/gpu/run.py [--bundle-dir DIR ...]

1. builds the runtime (cmake -S runtime -B /tmp/sparse-attn-runtime);
2. loads every *.bundle under the bundle directories (default
   test/gpu/bundles) through the sparse_attn package;
3. runs every kernel of every bundle through the checker of its op
   (checks.py) against float64 PyTorch references (reference.py), with
   poisoned outputs and fresh random inputs, synchronising and checking for
   CUDA errors after every launch, plus the runtime's own behaviour on a real
   device (streams, CUDA graphs, threads, PTX JIT, pointer checks);
4. prints pass/fail counts per kernel and exits non-zero on any failure.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def build_runtime(build_dir):
    """Configures and builds runtime/ on its own; returns the library path."""
    print(f"building the runtime in {build_dir}", flush=True)
    started = time.time()
    for command in (
        [
            "cmake",
            "-S",
            os.path.join(ROOT, "runtime"),
            "-B",
            build_dir,
            "-DCMAKE_BUILD_TYPE=Release",
        ],
        ["cmake", "--build", build_dir, "--parallel"],
    ):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    print(f"built in {time.time() - started:.0f} s", flush=True)
    return os.path.join(build_dir, "lib", "libsparse_attn_runtime.so")


def run_unit_tests(build_dir):
    """The runtime's host unit tests, when GoogleTest was there to build them."""
    binary = os.path.join(build_dir, "unittests", "sparse-attn-runtime-tests")
    if not os.path.exists(binary):
        print("runtime unit tests: not built here (no GoogleTest); they run on CI", flush=True)
        return None
    result = subprocess.run([binary, "--gtest_brief=1"], capture_output=True, text=True)
    print(f"runtime unit tests: {'passed' if result.returncode == 0 else 'FAILED'}", flush=True)
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-2000:])
    return result.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle-dir",
        action="append",
        help="a directory of *.bundle directories, or one bundle (repeatable; "
        "default test/gpu/bundles)",
    )
    parser.add_argument("--build-dir", default="/tmp/sparse-attn-runtime")
    parser.add_argument(
        "--kernels",
        default="",
        help="check only the kernels whose name matches this regular expression "
        "(e.g. a representative set under compute-sanitizer)",
    )
    parser.add_argument("--runtime-library", help="use this library instead of building one")
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default: from the clock, printed)"
    )
    args = parser.parse_args()

    library = args.runtime_library or build_runtime(args.build_dir)
    unit_tests = None if args.runtime_library else run_unit_tests(args.build_dir)

    bundle_dirs = args.bundle_dir or [os.path.join(HERE, "bundles")]
    bundles = []
    for directory in bundle_dirs:
        if os.path.isfile(os.path.join(directory, "manifest.json")):
            bundles.append(os.path.abspath(directory))
        else:
            bundles.extend(sorted(glob.glob(os.path.join(os.path.abspath(directory), "*.bundle"))))
    if not bundles:
        sys.exit(f"no bundles under {', '.join(bundle_dirs)}")

    # The package's default runtime reads these, so the operations
    # (sparse_attn.attention, ...) find the same kernels.
    os.environ["SPARSE_ATTN_RUNTIME_LIBRARY"] = library
    os.environ["SPARSE_ATTN_BUNDLE_PATH"] = os.pathsep.join(bundles)
    sys.path.insert(0, os.path.join(ROOT, "python"))
    sys.path.insert(0, HERE)

    import torch

    import checks
    import sparse_attn

    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible to PyTorch")
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    torch.manual_seed(seed)
    torch.cuda.init()
    major, minor = torch.cuda.get_device_capability()
    runtime = sparse_attn.default_runtime()
    print(
        f"device: {torch.cuda.get_device_name()} (compute capability {major}.{minor}), "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, runtime {runtime.version()}, "
        f"seed {seed}",
        flush=True,
    )

    results = checks.Results()
    for bundle in runtime.bundles:
        print(f"bundle {bundle.name} ({bundle.path}): {len(bundle.kernels)} kernels", flush=True)
        for kernel in bundle.kernels:
            if args.kernels and not re.search(args.kernels, kernel.name):
                continue
            checker = checks.CHECKERS.get(kernel.op)
            group = f"{bundle.name}/{kernel.name}"
            if checker is None:
                results.skip(group, f"no checker for op {kernel.op}")
                continue
            checker(kernel, results.group(group))
            counts = results.counts[group]
            print(
                f"{group}: {counts['passed']} passed, {counts['failed']} failed, "
                f"{counts['skipped']} skipped",
                flush=True,
            )
    checks.check_runtime_behaviour(runtime, results.group("runtime behaviour"))

    failed = results.report()
    for key, error in sorted(checks.WORST_ERRORS.items()):
        print(f"largest relative error {' '.join(key)}: {error:.2e}")
    if unit_tests is False:
        print("runtime unit tests FAILED")
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
