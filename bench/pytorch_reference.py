#!/usr/bin/env python3
"""The same Infini-attention model and data trained by the reference algorithm in PyTorch, for a
side-by-side speed comparison with `./infini bench train` on the same machine.

The reference project (Beomi/InfiniTransformer, "Part II") runs a long sequence segment by segment and
passes the memory between segment calls with the memory detached at every segment, so gradients stop at
segment boundaries: our `--memory-gradient truncated`. `--full` instead keeps the autograd graph of
the whole sequence (no recomputation), which is what exact back-propagation through memory costs in
plain PyTorch.

Model: the `tiny` preset (Gemma family, vocab 260, hidden 256, 4 layers, 4 heads, 1 KV head,
head_dim 64, MLP 1024, linear memory), Adam, random byte tokens. Run with Debian's python3-torch:

    /usr/bin/python3 bench/pytorch_reference.py --seq-len 4096 --segment 256 --batch 1 --steps 3

and compare tokens_per_s with `./infini bench train --seq-len 4096 --segment 256 --batch 1 --steps 3
--memory-gradient truncated`, run right after it.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn.functional as F


class InfiniAttention(torch.nn.Module):
    def __init__(self, d, heads, kv_heads, head_dim, theta=10000.0):
        super().__init__()
        self.h, self.kv, self.hd = heads, kv_heads, head_dim
        self.q = torch.nn.Linear(d, heads * head_dim, bias=False)
        self.k = torch.nn.Linear(d, kv_heads * head_dim, bias=False)
        self.v = torch.nn.Linear(d, kv_heads * head_dim, bias=False)
        self.o = torch.nn.Linear(heads * head_dim, d, bias=False)
        self.gate = torch.nn.Parameter(torch.zeros(1, heads, 1, 1))
        self.theta = theta
        self.delta = False                      # the spec's delta rule instead of the linear update (bench/recall/lab.py)

    def rope(self, x):  # x [B, n, S, d], positions restart at 0 in every segment
        s, d = x.shape[2], x.shape[3]
        inv = self.theta ** (-torch.arange(0, d // 2, dtype=torch.float32) * 2 / d)
        ang = torch.arange(s, dtype=torch.float32)[:, None] * inv[None, :]
        ang = torch.cat([ang, ang], dim=-1)
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return x * ang.cos() + torch.cat([-x2, x1], dim=-1) * ang.sin()

    def forward(self, x, mem, z):
        b, s, _ = x.shape
        g = self.h // self.kv
        q = self.q(x).view(b, s, self.h, self.hd).transpose(1, 2)          # [B,H,S,d]
        k = self.k(x).view(b, s, self.kv, self.hd).transpose(1, 2)         # [B,Hkv,S,d]
        v = self.v(x).view(b, s, self.kv, self.hd).transpose(1, 2)
        kr, qr = self.rope(k), self.rope(q)
        kr_h, v_h = kr.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
        causal = torch.full((s, s), float("-inf")).triu(1)
        a_dot = torch.softmax(qr @ kr_h.transpose(-1, -2) / math.sqrt(self.hd) + causal, dim=-1) @ v_h
        sq = F.elu(q) + 1                                                    # sigma(Q), before RoPE
        m_h, z_h = mem.repeat_interleave(g, dim=1), z.repeat_interleave(g, dim=1)
        a_mem = (sq @ m_h) / (sq @ z_h.unsqueeze(-1) + 1e-6)
        sk = F.elu(k) + 1
        if self.delta:                                                       # delta: write what M does not return yet
            mem = mem + sk.transpose(-1, -2) @ (v - (sk @ mem) / (sk @ z.unsqueeze(-1) + 1e-6))
        else:
            mem = mem + sk.transpose(-1, -2) @ v                             # linear update
        z = z + sk.sum(dim=2)
        gp = torch.sigmoid(self.gate)
        a = gp * a_mem + (1 - gp) * a_dot
        return self.o(a.transpose(1, 2).reshape(b, s, -1)), mem, z


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.w, self.eps = torch.nn.Parameter(torch.zeros(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1 + self.w)


class Block(torch.nn.Module):
    def __init__(self, d, heads, kv, hd, inter):
        super().__init__()
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.attn = InfiniAttention(d, heads, kv, hd)
        self.gate = torch.nn.Linear(d, inter, bias=False)
        self.up = torch.nn.Linear(d, inter, bias=False)
        self.down = torch.nn.Linear(inter, d, bias=False)

    def forward(self, x, mem, z):
        a, mem, z = self.attn(self.n1(x), mem, z)
        x = x + a
        h = self.n2(x)
        return x + self.down(F.gelu(self.gate(h), approximate="tanh") * self.up(h)), mem, z


class Model(torch.nn.Module):
    def __init__(self, vocab=260, d=256, layers=4, heads=4, kv=1, hd=64, inter=1024):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        self.blocks = torch.nn.ModuleList(Block(d, heads, kv, hd, inter) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.d, self.kv, self.hd = d, kv, hd
        self.shift = None                       # a probe, not the spec: embedding of the previous id (bench/recall/lab.py)

    def forward(self, ids, mems):
        x = self.emb(ids) * math.sqrt(self.d)
        if self.shift is not None:
            prev = torch.cat([torch.zeros_like(ids[:, :1]), ids[:, :-1]], 1)
            x = x + self.shift(prev) * math.sqrt(self.d)
        new = []
        for blk, (m, z) in zip(self.blocks, mems):
            x, m, z = blk(x, m, z)
            new.append((m, z))
        return self.norm(x) @ self.emb.weight.t(), new


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq-len", type=int, default=4096)
    ap.add_argument("--segment", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="keep the graph across segments (no detach)")
    # The shape (default: the tiny preset); the side-by-side script passes shapes A, B and C.
    ap.add_argument("--vocab", type=int, default=260)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=1)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--intermediate", type=int, default=1024)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(a.vocab, a.hidden, a.layers, a.heads, a.kv_heads, a.head_dim, a.intermediate)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    data = torch.randint(0, 256, (a.batch, a.seq_len + 1))

    def step():
        opt.zero_grad()
        mems = [(torch.zeros(a.batch, model.kv, model.hd, model.hd), torch.zeros(a.batch, model.kv, model.hd))
                for _ in model.blocks]
        total = 0.0
        losses = []
        for s0 in range(0, a.seq_len, a.segment):
            ids, tgt = data[:, s0:s0 + a.segment], data[:, s0 + 1:s0 + a.segment + 1]
            logits, mems = model(ids, mems)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="sum") / (a.batch * a.seq_len)
            if a.full:
                losses.append(loss)
            else:
                loss.backward()                                   # gradients stop at the segment boundary
                mems = [(m.detach(), z.detach()) for m, z in mems]
            total += loss.item()
        if a.full:
            torch.stack(losses).sum().backward()
        opt.step()
        return total

    step()  # warm-up
    t0 = time.time()
    for _ in range(a.steps):
        step()
    secs = time.time() - t0
    print(json.dumps({"bench": "pytorch-reference", "torch": torch.__version__, "threads": a.threads,
                      "memory_gradient": "full-autograd" if a.full else "truncated", "seq_len": a.seq_len,
                      "segment": a.segment, "batch": a.batch, "steps": a.steps, "hidden": a.hidden,
                      "layers": a.layers, "heads": a.heads, "kv_heads": a.kv_heads, "head_dim": a.head_dim,
                      "intermediate": a.intermediate,
                      "tokens_per_s": round(a.batch * a.seq_len * a.steps / secs),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
