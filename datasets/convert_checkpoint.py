#!/usr/bin/env python3
"""Convert a PyTorch / torchvision checkpoint into a .safetensors file that dqss can load.

Run this on YOUR machine (it needs PyTorch; dqss itself never runs Python):

    python3 convert_checkpoint.py resnet20.th resnet20.safetensors
    python3 convert_checkpoint.py ckpt.pth out.safetensors --key state_dict --strip-prefix module.
    python3 convert_checkpoint.py model.pt out.safetensors --drop-suffix num_batches_tracked

What it does:
  1. torch.load(IN, map_location="cpu"). Accepted contents: a state_dict (name -> tensor), a dict
     holding one under --key (default: tries "state_dict", "model", "net", "model_state_dict"), or a
     whole nn.Module (its .state_dict() is used; loading a pickled module needs its class importable,
     and --unsafe-load because PyTorch >= 2.6 refuses arbitrary pickles by default).
  2. Optionally removes a name prefix (e.g. "module." left by nn.DataParallel / DDP) and drops names
     ending in --drop-suffix. Names are otherwise kept exactly: dqss models use PyTorch state_dict names.
  3. Writes the tensors in state_dict order with their own dtype (F32, F16, BF16, F64, I64, I32, U8,
     BOOL ...; dqss converts to float32 when loading), little-endian, header padded to 8 bytes, with
     __metadata__ {"source": IN file name, "format": "pt"}.
  4. Reads the file back and checks every tensor byte for byte.
No dependency on the `safetensors` package: the writer below is 20 lines and follows the format spec
(8-byte little-endian header length, JSON header, raw data).
"""
import argparse
import json
import os
import struct
import sys

DTYPES = {  # torch dtype name -> (safetensors dtype, bytes per element)
    "float32": ("F32", 4), "float16": ("F16", 2), "bfloat16": ("BF16", 2), "float64": ("F64", 8),
    "int64": ("I64", 8), "int32": ("I32", 4), "int16": ("I16", 2), "int8": ("I8", 1),
    "uint8": ("U8", 1), "bool": ("BOOL", 1),
}


def write_safetensors(path, entries, metadata):
    """entries: list of (name, dtype code, shape, raw little-endian bytes), written in this order."""
    header, offset = {"__metadata__": metadata}, 0
    for name, code, shape, raw in entries:
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in entries:
            f.write(raw)
    os.replace(tmp, path)  # never leave a half-written file under the final name


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


def tensor_bytes(t, torch):
    t = t.detach().cpu().contiguous().reshape(-1)
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the 16-bit patterns
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def find_state_dict(obj, key, torch):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if not isinstance(obj, dict):
        sys.exit(f"error: checkpoint holds a {type(obj).__name__}, not a state_dict or a dict")
    keys = [key] if key else ["state_dict", "model", "net", "model_state_dict"]
    for k in keys:
        if k in obj and isinstance(obj[k], (dict, torch.nn.Module)):
            inner = obj[k]
            return inner.state_dict() if isinstance(inner, torch.nn.Module) else inner
    if key:
        sys.exit(f"error: checkpoint has no key {key!r}; keys: {sorted(map(str, obj))}")
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj  # already a plain state_dict
    sys.exit(f"error: cannot find a state_dict; top-level keys: {sorted(map(str, obj))} (use --key)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input", help="PyTorch checkpoint (.pth, .pt, .th, .ckpt)")
    p.add_argument("output", help="output .safetensors file")
    p.add_argument("--key", help="dict key holding the state_dict (default: try the usual ones)")
    p.add_argument("--strip-prefix", default="", help='remove this prefix from names, e.g. "module."')
    p.add_argument("--drop-suffix", action="append", default=[], help="drop names ending in this (repeatable)")
    p.add_argument("--unsafe-load", action="store_true",
                   help="torch.load(weights_only=False): only for checkpoints you trust")
    args = p.parse_args()
    if sys.byteorder != "little":
        sys.exit("error: this script assumes a little-endian machine")

    import torch
    try:
        obj = torch.load(args.input, map_location="cpu", weights_only=not args.unsafe_load)
    except TypeError:  # PyTorch < 1.13 has no weights_only
        obj = torch.load(args.input, map_location="cpu")
    state = find_state_dict(obj, args.key, torch)

    entries, seen = [], set()
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            print(f"skipping non-tensor entry {name!r}", file=sys.stderr)
            continue
        if args.strip_prefix and name.startswith(args.strip_prefix):
            name = name[len(args.strip_prefix):]
        if any(name.endswith(s) for s in args.drop_suffix):
            continue
        dt = str(t.dtype).replace("torch.", "")
        if dt not in DTYPES:
            sys.exit(f"error: tensor {name!r} has unsupported dtype {dt}")
        if name in seen:
            sys.exit(f"error: two tensors named {name!r} after prefix stripping")
        seen.add(name)
        code, size = DTYPES[dt]
        raw = tensor_bytes(t, torch)
        assert len(raw) == t.numel() * size, name
        entries.append((name, code, list(t.shape), raw))

    write_safetensors(args.output, entries, {"source": os.path.basename(args.input), "format": "pt"})
    back = read_safetensors(args.output)
    assert list(back) == [e[0] for e in entries], "tensor order changed"
    for name, code, shape, raw in entries:
        assert back[name] == (code, shape, raw), f"round trip mismatch for {name}"
    total = sum(len(e[3]) for e in entries)
    print(f"wrote {args.output}: {len(entries)} tensors, {total} data bytes (round trip checked)")


if __name__ == "__main__":
    main()
