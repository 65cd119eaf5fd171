#!/usr/bin/env python3
"""Training speed side by side: this project's trainer against the same algorithm in PyTorch, on this CPU.

A comparison that cannot flatter us:
1. PyTorch's BLAS is checked first: sgemm at n=1024 on 2 threads must reach 50 GFLOP/s (Debian's python3-torch
   without libopenblas0-pthread falls back to a reference BLAS at ~5 GFLOP/s). The packages are installed when
   missing; below the bar the script refuses to compare.
2. Both programs run with the same thread environment, the one ./infini sets: OMP_WAIT_POLICY=PASSIVE (without
   it PyTorch's OpenMP threads spin against OpenBLAS's and it runs at ~40% of its speed) and
   OPENBLAS_THREAD_TIMEOUT=4, 2 threads each.
3. For each shape and memory-gradient mode, PyTorch and this project alternate --rounds times (default 3); each
   run excludes its warm-up step. Medians are compared.

Shapes (issue 13): A and B are segment-256 shapes of the tiny and small presets, C the short-segment shape of
synthetic long-context tasks, where per-op overhead dominates. Modes: truncated (the memory detached at segment
boundaries, the reference code's way) and full (exact gradients through memory: per-segment recomputation here,
autograd over the whole sequence in PyTorch).

Achieved GFLOP/s counts the model's FLOPs only: 3x the forward FLOPs of every trained token (matrix products of
projections, MLP, LM head, the full S x S local attention, memory read and update); this project's recomputation
in full mode is not counted, so both programs are measured against the same work.

Output: one JSON line per run and one summary line per (shape, mode) in --out (default
bench/results/side-by-side.jsonl), and a Markdown table on stdout.

    python3 bench/side_by_side.py [--rounds 3] [--shapes A,B,C] [--modes truncated,full] [--out FILE]

--decode compares token-by-token decoding instead (the tiny preset shape, greedy, batch 1, after a 1K-token
context): bench/pytorch_decode.py (StreamingDecoder's algorithm in PyTorch: a KV cache of the current segment, the
memory read at every step, written when a segment fills) against `./infini bench decode` with each --kernels entry
(default fast,samediff), each after --warmup untimed tokens (default 256, both systems), alternating --rounds
times; medians and the ratio to PyTorch, in
bench/results/side-by-side-decode.jsonl unless --out says otherwise.

    python3 bench/side_by_side.py --decode [--rounds 3] [--kernels fast,samediff] [--context 1024] [--tokens 512]
        [--warmup 256]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"  # Debian's interpreter, the one python3-torch installs into
ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OPENBLAS_THREAD_TIMEOUT="4")
MIN_SGEMM = 50.0

SHAPES = {
    "A": dict(hidden=256, layers=4, heads=4, kv_heads=1, head_dim=64, intermediate=1024, vocab=260,
              seq_len=2048, segment=256, batch=4, steps=3),
    "B": dict(hidden=512, layers=4, heads=8, kv_heads=1, head_dim=64, intermediate=2048, vocab=260,
              seq_len=2048, segment=256, batch=4, steps=2),
    "C": dict(hidden=128, layers=2, heads=2, kv_heads=1, head_dim=64, intermediate=512, vocab=260,
              seq_len=256, segment=32, batch=16, steps=10),
}


def forward_flops_per_token(s):
    """Forward FLOPs of one token: every matrix product of the model (multiply-add = 2 FLOPs)."""
    d, h, kv, hd, inter, seg = s["hidden"], s["heads"], s["kv_heads"], s["head_dim"], s["intermediate"], s["segment"]
    proj = 2 * d * (h * hd + 2 * kv * hd) + 2 * h * hd * d            # q, k, v, o
    mlp = 3 * 2 * d * inter                                           # gate, up, down
    local = 2 * 2 * seg * hd * h                                      # Q K^T and A V over the full segment
    memory = 2 * hd * hd * h + 2 * hd * h + 2 * hd * hd * kv          # read sigma(Q) M, sigma(Q) z; linear update
    return s["layers"] * (proj + mlp + local + memory) + 2 * d * s["vocab"]


def train_flops_per_token(s):
    return 3 * forward_flops_per_token(s)


def torch_sgemm_gflops():
    code = ("import torch,time\ntorch.set_num_threads(2)\na=torch.randn(1024,1024);b=torch.randn(1024,1024)\n"
            "for _ in range(3): a@b\nbest=1e9\nfor _ in range(10):\n t=time.perf_counter();a@b;best=min(best,time.perf_counter()-t)\n"
            "print(2*1024**3/best/1e9)")
    r = subprocess.run([PYTHON, "-c", code], env=ENV, capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return float(r.stdout.strip().splitlines()[-1])


def apt_install(*packages):
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"side_by_side: installing {' '.join(packages)} (apt-get)", file=sys.stderr)
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
    subprocess.run(sudo + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", *packages],
                   check=True, stdout=subprocess.DEVNULL)


def check_pytorch():
    if subprocess.run([PYTHON, "-c", "import torch"], capture_output=True).returncode != 0:
        apt_install("python3-torch", "libopenblas0-pthread")
    g = torch_sgemm_gflops()
    if g is None or g < MIN_SGEMM:
        apt_install("libopenblas0-pthread")
        g = torch_sgemm_gflops()
    if g is None or g < MIN_SGEMM:
        sys.exit(f"side_by_side: PyTorch sgemm reaches {g} GFLOP/s (< {MIN_SGEMM}): its BLAS is not set up, "
                 "refusing to compare")
    return g


def run_json(cmd):
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        sys.exit(f"side_by_side: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return json.loads(lines[-1])


def shape_args(s):
    return ["--hidden", str(s["hidden"]), "--layers", str(s["layers"]), "--heads", str(s["heads"]),
            "--kv-heads", str(s["kv_heads"]), "--head-dim", str(s["head_dim"]),
            "--intermediate", str(s["intermediate"]), "--seq-len", str(s["seq_len"]),
            "--segment", str(s["segment"]), "--batch", str(s["batch"]), "--steps", str(s["steps"])]


def run_pytorch(s, mode):
    cmd = [PYTHON, "bench/pytorch_reference.py", "--threads", "2", "--vocab", str(s["vocab"])] + shape_args(s)
    return run_json(cmd + (["--full"] if mode == "full" else []))


def run_infini(s, mode):
    return run_json(["./infini", "bench", "train", "--preset", "tiny", "--memory-gradient", mode] + shape_args(s))


def decode_main(a, sgemm, load):
    """--decode: PyTorch's decode loop and ours (each kernel) alternate --rounds times; medians and ratios."""
    out = a.out or os.path.join(ROOT, "bench", "results", "side-by-side-decode.jsonl")
    kernels = a.kernels.split(",")
    common = ["--context", str(a.context), "--tokens", str(a.tokens), "--warmup", str(a.warmup)]
    systems = [("pytorch", [PYTHON, "bench/pytorch_decode.py", "--threads", "2"] + common)]
    systems += [(k, ["./infini", "bench", "decode", "--preset", "tiny", "--kernel", k] + common) for k in kernels]
    meta = {"kind": "machine", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "torch_sgemm_gflops_n1024": round(sgemm, 1),
            "load_average_1m": round(load, 2), "cpus": os.cpu_count(), "bench": "decode",
            "env": {k: ENV[k] for k in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}}
    rows, tps = [meta], {name: [] for name, _ in systems}
    print(json.dumps(meta), file=sys.stderr)
    for r in range(a.rounds):
        for name, cmd in systems:
            res = run_json(cmd)
            tps[name].append(res["tokens_per_s"])
            row = {"kind": "run", "system": "pytorch" if name == "pytorch" else "infini", "kernel": name,
                   "round": r + 1, "tokens_per_s": res["tokens_per_s"], "raw": res}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "raw"}), file=sys.stderr)
    mp = statistics.median(tps["pytorch"])
    summary = [{"kind": "summary", "bench": "decode", "kernel": k, "rounds": a.rounds, "context": a.context,
                "warmup": a.warmup, "tokens": a.tokens, "pytorch_tokens_per_s": mp, "infini_tokens_per_s": statistics.median(tps[k]),
                "ratio": round(statistics.median(tps[k]) / mp, 3),
                "load_average_1m_after": round(os.getloadavg()[0], 2)} for k in kernels]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        for r in rows + summary:
            f.write(json.dumps(r) + "\n")
    print("| decoding (tiny, greedy, after %d tokens) | this project (tokens/s) | PyTorch (tokens/s) | ratio |" % a.context)
    print("|---|---|---|---|")
    for r in summary:
        print(f"| kernel {r['kernel']} | {r['infini_tokens_per_s']:,} | {r['pytorch_tokens_per_s']:,} | "
              f"**{r['ratio']:.2f}** |")
    print(f"\n{a.rounds} alternating rounds of {a.tokens} decoded tokens after {a.warmup} untimed ones, medians; load average {load:.2f} before; "
          f"results in {os.path.relpath(out, ROOT)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decode", action="store_true", help="compare token-by-token decoding instead of training")
    ap.add_argument("--kernels", default="fast,samediff", help="--decode: our kernels to run")
    ap.add_argument("--context", type=int, default=1024, help="--decode: tokens fed before decoding")
    ap.add_argument("--tokens", type=int, default=512, help="--decode: tokens decoded and timed per run")
    ap.add_argument("--warmup", type=int, default=256, help="--decode: tokens decoded before timing (JIT warm-up)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shapes", default="A,B,C")
    ap.add_argument("--modes", default="truncated,full")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.rounds < 3:
        sys.exit("side_by_side: --rounds must be at least 3 (medians of alternating runs)")
    sgemm = check_pytorch()
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"side_by_side: warning: load average {load:.2f}; compare on a quiet machine", file=sys.stderr)
    subprocess.run(["./infini", "--version"], cwd=ROOT, env=ENV, check=True, capture_output=True)  # build once
    if a.decode:
        decode_main(a, sgemm, load)
        return
    a.out = a.out or os.path.join(ROOT, "bench", "results", "side-by-side.jsonl")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    meta = {"kind": "machine", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "torch_sgemm_gflops_n1024": round(sgemm, 1),
            "load_average_1m": round(load, 2), "cpus": os.cpu_count(),
            "env": {k: ENV[k] for k in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}}
    rows, summary = [meta], []
    print(json.dumps(meta), file=sys.stderr)
    for name in a.shapes.split(","):
        s = SHAPES[name]
        flops = train_flops_per_token(s)
        for mode in a.modes.split(","):
            tps = {"pytorch": [], "infini": []}
            for r in range(a.rounds):
                for system, fn in (("pytorch", run_pytorch), ("infini", run_infini)):
                    out = fn(s, mode)
                    t = out["tokens_per_s"]
                    tps[system].append(t)
                    row = {"kind": "run", "system": system, "shape": name, "memory_gradient": mode, "round": r + 1,
                           "tokens_per_s": t, "gflops": round(t * flops / 1e9, 1),
                           "sgemm_fraction": round(t * flops / 1e9 / sgemm, 3), "raw": out}
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items() if k != "raw"}), file=sys.stderr)
            mp, mi = statistics.median(tps["pytorch"]), statistics.median(tps["infini"])
            summary.append({"kind": "summary", "shape": name, "memory_gradient": mode, "rounds": a.rounds,
                            "mflop_per_token": round(flops / 1e6, 2),
                            "pytorch_tokens_per_s": mp, "infini_tokens_per_s": mi,
                            "pytorch_gflops": round(mp * flops / 1e9, 1), "infini_gflops": round(mi * flops / 1e9, 1),
                            "pytorch_sgemm_fraction": round(mp * flops / 1e9 / sgemm, 3),
                            "infini_sgemm_fraction": round(mi * flops / 1e9 / sgemm, 3),
                            "ratio": round(mi / mp, 3), "shape_args": s})
    with open(a.out, "w") as f:
        for r in rows + summary:
            f.write(json.dumps(r) + "\n")
    print(f"| shape | memory gradient | this project (tokens/s, GFLOP/s) | PyTorch (tokens/s, GFLOP/s) | ratio |")
    print("|---|---|---|---|---|")
    for r in summary:
        print(f"| {r['shape']} | {r['memory_gradient']} | {r['infini_tokens_per_s']:,} ({r['infini_gflops']}) | "
              f"{r['pytorch_tokens_per_s']:,} ({r['pytorch_gflops']}) | **{r['ratio']:.2f}** |")
    print(f"\nPyTorch sgemm n=1024, 2 threads: {sgemm:.0f} GFLOP/s; {a.rounds} alternating rounds, medians; "
          f"results in {os.path.relpath(a.out, ROOT)}")


if __name__ == "__main__":
    main()
