"""Writes and dumps small .npy files with the standard library only, so that
the sparse-attn-run tests need no NumPy and check the tool's reader and
writer against an independent implementation.

  npy.py write PATH DESCR SHAPE VALUES [--fortran] [--version=N] [--truncate=K]
      DESCR as numpy spells it ('<f4', '<i4', '>f4', ...), SHAPE like 2x3
      ('' for a 0-d array), VALUES comma-separated; --truncate drops the last
      K data bytes (malformed files for the error tests).
  npy.py dump PATH
      prints `descr (shape)` and then the values, one row per line.
"""

import ast
import math
import struct
import sys

FORMATS = {"f2": "e", "f4": "f", "f8": "d", "i4": "i", "i8": "q", "u2": "H"}


def write(path, descr, shape_text, values_text, fortran=False, version=1,
          truncate=0):
    shape = tuple(int(extent) for extent in shape_text.split("x")) if shape_text else ()
    values = [ast.literal_eval(value) if value not in ("nan", "inf", "-inf")
              else float(value) for value in values_text.split(",") if value]
    endian = "<" if descr[0] in "<|" else ">"
    data = struct.pack(endian + FORMATS[descr[1:]] * len(values), *values)
    data = data[:len(data) - truncate]
    shape_repr = "(" + ", ".join(str(extent) for extent in shape) + ("," if len(shape) == 1 else "") + ")"
    header = ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }"
              % (descr, fortran, shape_repr))
    length_bytes = 2 if version == 1 else 4
    prefix = 6 + 2 + length_bytes
    header += " " * ((-(prefix + len(header) + 1)) % 64) + "\n"
    with open(path, "wb") as stream:
        stream.write(b"\x93NUMPY" + bytes([version, 0]))
        stream.write(struct.pack("<H" if version == 1 else "<I", len(header)))
        stream.write(header.encode("latin1"))
        stream.write(data)


def dump(path):
    with open(path, "rb") as stream:
        contents = stream.read()
    assert contents[:6] == b"\x93NUMPY", "bad magic"
    version = contents[6]
    length_bytes = 2 if version == 1 else 4
    (length,) = struct.unpack("<H" if version == 1 else "<I", contents[8:8 + length_bytes])
    start = 8 + length_bytes
    header = ast.literal_eval(contents[start:start + length].decode("latin1"))
    assert (start + length) % 64 == 0, "data not 64-byte aligned"
    descr, shape = header["descr"], header["shape"]
    count = math.prod(shape)
    values = struct.unpack(descr[0] + FORMATS[descr[1:]] * count,
                           contents[start + length:])
    print("%s (%s)" % (descr, "x".join(str(extent) for extent in shape)))
    row = shape[-1] if shape and shape[-1] else 1
    for begin in range(0, count, row):
        print(" ".join(repr(value) for value in values[begin:begin + row]))


def main(argv):
    if argv[0] == "write":
        options = dict(option[2:].split("=") if "=" in option else (option[2:], True)
                       for option in argv[5:])
        write(argv[1], argv[2], argv[3], argv[4], options.get("fortran", False),
              int(options.get("version", 1)), int(options.get("truncate", 0)))
    elif argv[0] == "dump":
        dump(argv[1])
    else:
        sys.exit("usage: npy.py write|dump ...")


if __name__ == "__main__":
    main(sys.argv[1:])
