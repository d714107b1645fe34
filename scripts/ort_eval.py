#!/usr/bin/env python3
"""Top-1 of an ONNX model exported by `dqss export`, run by ONNX Runtime (CPU), on a CIFAR-10 split.

    python3 scripts/ort_eval.py MODEL.onnx --data ../shared/datasets/cifar10 [--split test] [--json]
                                [--opt-level all|extended|basic|disable] [--batch 200] [--limit N]

Reads the split exactly as dqss does (manifest.json -> binary records: 1 label byte + 1024 R + 1024 G +
1024 B) and normalises with the mean/std the exporter wrote into the model's metadata_props
("dqss.normalization.mean"/"...std"), in float32 and in the same order as DQSSData's Normalization:
x = (byte / 255 - mean) / std. Prediction = argmax of the logits (lowest index on ties, as numpy).
Prints "correct / total" (or one JSON object with --json). Needs: numpy, onnxruntime.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnxruntime as ort


def load_split(directory, split):
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    if split not in manifest["splits"]:
        sys.exit(f"ort_eval: split {split!r} not in {directory}/manifest.json ({', '.join(manifest['splits'])})")
    raw = b"".join(open(os.path.join(directory, name), "rb").read() for name in manifest["splits"][split]["files"])
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


def normalise(images, mean, std):
    # float32 table, computed in the same order as DQSSData.Normalization (divide, subtract, divide).
    b = np.arange(256, dtype=np.float32)
    table = np.stack([(b / np.float32(255) - np.float32(m)) / np.float32(s) for m, s in zip(mean, std)])
    return np.stack([table[c][images[:, c]] for c in range(3)], axis=1).astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--data", required=True, help="CIFAR-10 directory holding manifest.json")
    p.add_argument("--split", default="test")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--limit", type=int)
    p.add_argument("--opt-level", choices=["all", "extended", "basic", "disable"], default="all",
                   help="ONNX Runtime graph optimisation level (default: all, as a deployment would run)")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: ONNX Runtime's default)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[args.opt_level]
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    try:
        mean = [float(v) for v in meta["dqss.normalization.mean"].split(",")]
        std = [float(v) for v in meta["dqss.normalization.std"].split(",")]
    except KeyError:
        sys.exit(f"ort_eval: {args.model} has no dqss.normalization.* metadata (not written by `dqss export`?)")

    images, labels = load_split(args.data, args.split)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    x = normalise(images, mean, std)
    input_name = session.get_inputs()[0].name
    correct = 0
    predictions = []
    for lo in range(0, len(labels), args.batch):
        logits = session.run(None, {input_name: x[lo : lo + args.batch]})[0]
        pred = logits.argmax(axis=1)
        predictions.extend(int(v) for v in pred)
        correct += int((pred == labels[lo : lo + args.batch]).sum())
    total = len(labels)
    if args.json:
        print(json.dumps({"model": args.model, "split": args.split, "correct": correct, "total": total,
                          "top1": 100.0 * correct / total, "opt_level": args.opt_level,
                          "onnxruntime": ort.__version__, "predictions": predictions}))
    else:
        print(f"{correct} / {total}")


if __name__ == "__main__":
    main()
