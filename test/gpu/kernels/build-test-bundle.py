#!/usr/bin/env python3
"""Builds the runtime's test bundle from runtime-test.mlir.

Compiles the kernels with mlir-opt's NVVM pipeline, takes the PTX out of the
#gpu.object, adds a cubin when ptxas is available, and writes the manifest
(docs/design/kernel-bundles.md). The manifest's parameter slots are checked
against the PTX entry points, as the compiler's bundle tool will have to.

    test/gpu/kernels/build-test-bundle.py [--output DIR] [--mlir-opt PATH] [--ptxas PATH]

The result is committed under test/gpu/bundles/ so that the GPU machine,
which has no MLIR, can run it.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SOURCE = os.path.join(HERE, "runtime-test.mlir")
CHIP = "sm_90a"
PIPELINE = (
    f"--gpu-lower-to-nvvm-pipeline=cubin-chip={CHIP} cubin-features=+ptx80 "
    "opt-level=3 cubin-format=isa kernel-bare-ptr-calling-convention"
)
MODULE = "runtime_test"


def matrix(name, access, alignment=None):
    tensor = {"name": name, "dtype": "f32", "rank": 2, "access": access}
    if alignment:
        tensor["alignment"] = alignment
    return tensor


def strides(tensor):
    return [{"kind": "stride", "tensor": tensor, "dim": d} for d in (0, 1)]


KERNELS = [
    {
        "name": "scaled_add_f32",
        "module": MODULE,
        "entry": "scaled_add",
        "op": "test.scaled_add",
        "specialization": {"dtype": "f32"},
        "tuning": {"block": "16x16"},
        "tensors": [matrix("x", "read"), matrix("y", "read"), matrix("z", "write")],
        "scalars": [{"name": "a", "type": "f32"}],
        "constraints": [
            "y.size0 == x.size0 && y.size1 == x.size1",
            "z.size0 == x.size0 && z.size1 == x.size1",
        ],
        "params": [
            {"kind": "pointer", "tensor": "x"},
            {"kind": "pointer", "tensor": "y"},
            {"kind": "pointer", "tensor": "z"},
            {"kind": "size", "tensor": "x", "dim": 0},
            {"kind": "size", "tensor": "x", "dim": 1, "type": "i32"},
            *strides("x"),
            *strides("y"),
            *strides("z"),
            {"kind": "scalar", "name": "a"},
        ],
        "launch": {
            "grid": ["ceil_div(x.size1, 16)", "ceil_div(x.size0, 16)", 1],
            "block": [16, 16, 1],
        },
    },
    {
        "name": "tile_copy_f32",
        "module": MODULE,
        "entry": "tile_copy",
        "op": "test.tile_copy",
        "specialization": {"dtype": "f32"},
        "tuning": {"tile": "16x32"},
        "tensors": [matrix("source", "read", alignment=16), matrix("out", "write")],
        "constraints": [
            {
                "expr": "out.size0 == source.size0 && out.size1 == source.size1",
                "message": "out must have the shape of source",
            }
        ],
        "params": [
            {"kind": "tensor_map", "tensor": "source", "box": [16, 32]},
            {"kind": "pointer", "tensor": "out"},
            {"kind": "size", "tensor": "out", "dim": 0},
            {"kind": "size", "tensor": "out", "dim": 1},
            *strides("out"),
            {"kind": "value", "expr": "ceil_div(source.size1, 32)", "type": "i32"},
        ],
        "launch": {
            "grid": ["ceil_div(source.size1, 32) * ceil_div(source.size0, 16)", 1, 1],
            "block": [128, 1, 1],
            # More than the tile needs, to exercise the opt-in above 48 KiB.
            "shared_memory_bytes": 65536,
            "cluster": [1, 1, 1],
        },
    },
]

# Bytes of each PTX parameter type, and of each slot kind.
PTX_PARAM_BYTES = {"u64": 8, "b64": 8, "s64": 8, "u32": 4, "b32": 4, "s32": 4, "f32": 4}


def slot_bytes(kernel, slot):
    if slot["kind"] in ("pointer", "tensor_map"):
        return 8
    if slot["kind"] == "scalar":
        scalar = next(s for s in kernel["scalars"] if s["name"] == slot["name"])
        return 8 if scalar["type"] == "i64" else 4
    return 4 if slot.get("type") == "i32" else 8


def decode_mlir_string(text):
    """Undoes MLIR's string escapes (\\XX hex bytes, \\\\, \\")."""
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] != "\\":
            out += text[i].encode()
            i += 1
        elif text[i + 1] in '\\"':
            out += text[i + 1].encode()
            i += 2
        else:
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
    return out.decode()


def extract_ptx(lowered):
    objects = re.findall(r'assembly = "((?:[^"\\]|\\.)*)"', lowered)
    if len(objects) != 1:
        sys.exit(f"expected one #gpu.object with an assembly, found {len(objects)}")
    return decode_mlir_string(objects[0])


def ptx_entry_params(ptx):
    """Maps each .entry to the byte sizes of its parameters."""
    entries = {}
    for name, params in re.findall(r"\.entry\s+(\w+)\s*\(([^)]*)\)", ptx):
        types = re.findall(r"\.param\s+\.(\w+)", params)
        entries[name] = [PTX_PARAM_BYTES[t] for t in types]
    return entries


def check_params(ptx):
    entries = ptx_entry_params(ptx)
    for kernel in KERNELS:
        compiled = entries.get(kernel["entry"])
        if compiled is None:
            sys.exit(f"{kernel['entry']}: no such entry in the PTX")
        declared = [slot_bytes(kernel, slot) for slot in kernel["params"]]
        if compiled != declared:
            sys.exit(
                f"{kernel['entry']}: the PTX takes parameters of {compiled} bytes, "
                f"the manifest declares {declared}"
            )


def tool_version(command):
    """The line of `command`'s output that states its version."""
    output = subprocess.run(command, capture_output=True, text=True).stdout
    lines = [
        line.strip()
        for line in output.splitlines()
        if "version" in line.lower() or "release" in line.lower()
    ]
    return lines[-1] if lines else "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", default=os.path.join(ROOT, "test", "gpu", "bundles", "runtime-test.bundle")
    )
    parser.add_argument(
        "--mlir-opt", default=shutil.which("mlir-opt") or "/usr/lib/llvm-22/bin/mlir-opt"
    )
    parser.add_argument("--ptxas", default=shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas")
    args = parser.parse_args()

    lowered = subprocess.run(
        [args.mlir_opt, SOURCE, PIPELINE], check=True, capture_output=True, text=True
    ).stdout
    ptx = extract_ptx(lowered)
    check_params(ptx)

    if os.path.isdir(args.output):
        shutil.rmtree(args.output)
    os.makedirs(args.output)
    ptx_file = f"{MODULE}.ptx"
    with open(os.path.join(args.output, ptx_file), "w") as stream:
        stream.write(ptx)
    module = {"name": MODULE, "target": CHIP, "ptx": ptx_file}
    producer = {
        "tool": "test/gpu/kernels/build-test-bundle.py",
        "source": "test/gpu/kernels/runtime-test.mlir",
        "mlir-opt": tool_version([args.mlir_opt, "--version"]),
    }
    if os.access(args.ptxas, os.X_OK):
        cubin_file = f"{MODULE}.{CHIP}.cubin"
        subprocess.run(
            [
                args.ptxas,
                f"-arch={CHIP}",
                os.path.join(args.output, ptx_file),
                "-o",
                os.path.join(args.output, cubin_file),
            ],
            check=True,
        )
        module["cubin"] = cubin_file
        producer["ptxas"] = tool_version([args.ptxas, "--version"])
    else:
        print(f"note: {args.ptxas} not found, the bundle has PTX only", file=sys.stderr)

    manifest = {
        "format": "sparse-attn-kernel-bundle",
        "version": 1,
        "name": "runtime-test",
        "producer": producer,
        "modules": [module],
        "kernels": KERNELS,
    }
    with open(os.path.join(args.output, "manifest.json"), "w") as stream:
        json.dump(manifest, stream, indent=2)
        stream.write("\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
