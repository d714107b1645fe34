#!/usr/bin/env python3
"""dqss against PyTorch on the same cores: one training step (forward + loss + backward + SGD update).

PyTorch is a benchmark peer here, never a dependency of dqss: install it in a venv of your own
(`python3 -m venv ../torch-venv && ../torch-venv/bin/pip install torch torchvision numpy`) and run this
script with that venv's python. Every case runs interleaved, A B C A B C ..., each measurement in a fresh
process (so neither side warms the other's caches or thread pools):

  A  `dqss-bench step --model M --image S --batch B --mode fp32|qat --json --no-profile` (median of its repeats)
  B  PyTorch, default (NCHW contiguous) layout
  C  PyTorch, channels_last

with the same thread count (torch.set_num_threads, OMP_WAIT_POLICY=PASSIVE so idle OpenMP threads do not spin
against the next process). Reported: the median over rounds of each side's median step, and the ratios
dqss / PyTorch (below 1: dqss is faster). Models: resnet20 (CIFAR, option-A shortcuts, as dqss's), and
torchvision's resnet18, resnet50, mobilenet_v2 (random initialisation; speed does not depend on the values).
`qat` = one candidate (LSQ) on every conv/linear input and weight, 4 bits inside, 8 for the first conv and
the classifier, as `dqss-bench step --mode qat --method lsq`: PyTorch's learnable fake quantizer
(torch._fake_quantize_learnable_per_tensor_affine), i.e. LSQ as PyTorch ships it.

  ../torch-venv/bin/python scripts/bench-vs-pytorch.py                      # README's speed table
  ../torch-venv/bin/python scripts/bench-vs-pytorch.py --cases resnet20:32:128 --modes fp32 --rounds 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

DEFAULT_CASES = "resnet20:32:128 resnet18:224:32 resnet50:224:16 mobilenet_v2:224:32"


# ----------------------------------------------------------------------------------------------- PyTorch side
def torch_worker(model_name, image, batch, mode, threads, repeats, channels_last):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(21)

    class CIFARBasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.pad = cout - cin if (stride != 1 or cin != cout) else 0
            self.stride = stride

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            sc = x
            if self.pad:   # option A: subsample and zero-pad the channels
                sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad // 2))
            return F.relu(out + sc)

    class CIFARResNet(nn.Module):
        def __init__(self, n=3, classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            layers, cin = [], 16
            for cout, stride in [(16, 1), (32, 2), (64, 2)]:
                for i in range(n):
                    layers.append(CIFARBasicBlock(cin, cout, stride if i == 0 else 1))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            self.linear = nn.Linear(64, classes)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.layers(x)
            return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))

    if model_name == "resnet20":
        net, classes = CIFARResNet(3), 10
    else:
        import torchvision
        net, classes = getattr(torchvision.models, model_name)(weights=None), 1000

    if mode == "qat":
        # LSQ on every conv/linear input and weight (PyTorch's learnable fake quantizer).
        class LSQ(nn.Module):
            def __init__(self, bits, signed):
                super().__init__()
                self.qmin, self.qmax = (-(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
                self.scale = nn.Parameter(torch.tensor([0.05]))
                self.register_buffer("zero_point", torch.tensor([0.0]))

            def forward(self, x):
                return torch._fake_quantize_learnable_per_tensor_affine(
                    x, self.scale, self.zero_point, self.qmin, self.qmax, 1.0 / (x.numel() * self.qmax) ** 0.5)

        layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        for i, m in enumerate(layers):
            bits = 8 if i in (0, len(layers) - 1) else 4
            m.input_quantizer = LSQ(bits, signed=(i == 0))
            m.weight_quantizer = LSQ(bits, signed=True)

            def fwd(x, m=m):
                w = m.weight_quantizer(m.weight)
                x = m.input_quantizer(x)
                if isinstance(m, nn.Conv2d):
                    return F.conv2d(x, w, m.bias, m.stride, m.padding, m.dilation, m.groups)
                return F.linear(x, w, m.bias)
            m.forward = fwd

    x = torch.empty(batch, 3, image, image).uniform_(-2, 2)
    y = torch.randint(0, classes, (batch,))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    times = []
    for r in range(repeats + 1):   # step 0 warms up
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        if r > 0:
            times.append(t1 - t0)
    return statistics.median(times) * 1e3


# -------------------------------------------------------------------------------------------------- driver
def run_dqss(bench, model, image, batch, mode, threads, repeats):
    cmd = [bench, "step", "--model", model, "--image", str(image), "--batch", str(batch), "--mode", mode,
           "--method", "lsq", "--threads", str(threads), "--repeat", str(repeats), "--no-profile", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["step_ms"]


def run_torch(model, image, batch, mode, threads, repeats, channels_last):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--torch-worker", f"{model}:{image}:{batch}", "--modes", mode,
           "--threads", str(threads), "--repeat", str(repeats)] + (["--channels-last"] if channels_last else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return float(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=DEFAULT_CASES, help="model:image:batch, space-separated")
    p.add_argument("--modes", default="fp32,qat", help="fp32, qat (comma-separated)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="A B C rounds per case (median over rounds)")
    p.add_argument("--repeat", type=int, default=3, help="timed steps per measurement (median)")
    p.add_argument("--bench", default=".build/release/dqss-bench", help="built dqss-bench executable")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout (the table on stderr)")
    p.add_argument("--torch-worker", help=argparse.SUPPRESS)
    p.add_argument("--channels-last", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()

    if a.torch_worker:
        model, image, batch = a.torch_worker.split(":")
        print(torch_worker(model, int(image), int(batch), a.modes, a.threads, a.repeat, a.channels_last))
        return

    import torch
    rows = []
    log = sys.stderr
    header = ("| model | image | batch | mode | dqss ms | PyTorch ms | PyTorch channels_last ms "
              "| dqss / PyTorch | dqss / PyTorch channels_last |")
    print(f"PyTorch {torch.__version__}, {a.threads} threads, {a.rounds} rounds x {a.repeat} steps "
          f"(medians), loadavg {os.getloadavg()}", file=log)
    for case in a.cases.split():
        model, image, batch = case.split(":")
        image, batch = int(image), int(batch)
        for mode in a.modes.split(","):
            d, t, c = [], [], []
            for r in range(a.rounds):
                d.append(run_dqss(a.bench, model, image, batch, mode, a.threads, a.repeat))
                t.append(run_torch(model, image, batch, mode, a.threads, a.repeat, False))
                c.append(run_torch(model, image, batch, mode, a.threads, a.repeat, True))
                print(f"{model} {image} {batch} {mode} round {r + 1}/{a.rounds}: dqss {d[-1]:.1f} ms, "
                      f"PyTorch {t[-1]:.1f} ms, channels_last {c[-1]:.1f} ms", file=log)
            md, mt, mc = statistics.median(d), statistics.median(t), statistics.median(c)
            rows.append(dict(model=model, image=image, batch=batch, mode=mode, dqss_ms=md, torch_ms=mt,
                             torch_channels_last_ms=mc, ratio=md / mt, ratio_channels_last=md / mc,
                             dqss_rounds=d, torch_rounds=t, torch_channels_last_rounds=c))
    table = [header, "|---|---|---|---|---|---|---|---|---|"] + [
        f"| {r['model']} | {r['image']} | {r['batch']} | {r['mode']} | {r['dqss_ms']:.1f} | {r['torch_ms']:.1f} | "
        f"{r['torch_channels_last_ms']:.1f} | {r['ratio']:.2f} | {r['ratio_channels_last']:.2f} |" for r in rows]
    if a.json:
        print("\n".join(table), file=log)
        print(json.dumps(dict(torch=torch.__version__, threads=a.threads, rounds=a.rounds, repeat=a.repeat,
                              loadavg_end=os.getloadavg(), rows=rows)))
    else:
        print("\n".join(table))


if __name__ == "__main__":
    main()
