#!/usr/bin/env python3
"""Token-by-token decoding of the same Infini-attention model in PyTorch, for a side-by-side speed comparison with
`./infini bench decode` (bench/side_by_side.py --decode).

The algorithm is StreamingDecoder's (docs/generation.md): the context is fed segment by segment (each full segment
writes the memory, arXiv 2404.07143 eq. 4), then greedy decoding one token at a time: the new token's query
attends over a KV cache of the current segment (RoPE'd keys, values; positions restart at 0 per segment) plus
itself, reads the memory of the earlier segments A_mem = sigma(Q) M / (sigma(Q) z + 1e-6) (eq. 3, Q before RoPE,
sigma = ELU + 1), and the gate mixes the two (eq. 6); when the segment fills, the memory is written from the
sigma(K) and V cached by its steps, M' = M + sigma(K)^T V, z' = z + sum_t sigma(K_t) (eq. 4, linear rule; what
FastStep.writeMemory does, equal to a segment forward's memory), and the cache starts over.

Model: the tiny preset shape of bench/pytorch_reference.py (Gemma, vocab 260, hidden 256, 4 layers, 4 heads,
1 KV head, head_dim 64, MLP 1024, segment 256, linear memory), random weights, batch 1, float32.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_decode.py --context 1024 --tokens 512 [--check]

--check first verifies that the step logits equal a full segment-by-segment forward pass (max relative error).
Output: one JSON line with tokens_per_s.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import Model  # noqa: E402  the same modules as the training comparison


class Decoder:
    """StreamingDecoder in PyTorch: memory of the completed segments, a KV cache [Hkv, S, d] per layer."""

    def __init__(self, model, segment):
        self.m, self.seg = model, segment
        blk = model.blocks[0].attn
        self.kv, self.hd, self.h = blk.kv, blk.hd, blk.h
        self.mems = [(torch.zeros(1, self.kv, self.hd, self.hd), torch.zeros(1, self.kv, self.hd)) for _ in model.blocks]
        self.ck = [torch.zeros(self.kv, segment, self.hd) for _ in model.blocks]
        self.cv = [torch.zeros(self.kv, segment, self.hd) for _ in model.blocks]
        self.csk = [torch.zeros(self.kv, segment, self.hd) for _ in model.blocks]   # sigma(K) for the memory write
        self.tokens, self.filled = [], 0
        inv = blk.theta ** (-torch.arange(0, self.hd // 2, dtype=torch.float32) * 2 / self.hd)
        ang = torch.arange(segment, dtype=torch.float32)[:, None] * inv[None, :]
        ang = torch.cat([ang, ang], dim=-1)
        self.cos, self.sin = ang.cos(), ang.sin()                            # [S, d]

    def rope(self, x, pos):  # x [n, d]
        half = self.hd // 2
        return x * self.cos[pos] + torch.cat([-x[:, half:], x[:, :half]], dim=-1) * self.sin[pos]

    def feed(self, ids):
        """Full segments through the segment forward (memory written); a partial tail token by token."""
        logits = None
        n_full = len(ids) // self.seg * self.seg
        for s0 in range(0, n_full, self.seg):
            out, self.mems = self.m(torch.tensor([ids[s0:s0 + self.seg]]), self.mems)
            logits = out[0, -1]
        for t in ids[n_full:]:
            logits = self.step(t)
        return logits

    def step(self, token):
        pos, g = self.filled, self.h // self.kv
        x = self.m.emb.weight[token] * math.sqrt(self.m.d)                   # [D]
        for l, blk in enumerate(self.m.blocks):
            at, (mem, z) = blk.attn, self.mems[l]
            hn = blk.n1(x)
            q = at.q(hn).view(self.h, self.hd)
            k = at.k(hn).view(self.kv, self.hd)
            self.ck[l][:, pos] = self.rope(k, pos)
            self.cv[l][:, pos] = at.v(hn).view(self.kv, self.hd)
            self.csk[l][:, pos] = F.elu(k) + 1
            qr = self.rope(q, pos).view(self.kv, g, self.hd)                 # query heads grouped per KV head
            p = torch.softmax(qr @ self.ck[l][:, :pos + 1].transpose(1, 2) / math.sqrt(self.hd), dim=-1)
            a_dot = (p @ self.cv[l][:, :pos + 1]).reshape(self.h, self.hd)
            sq = (F.elu(q) + 1).view(self.kv, g, self.hd)                    # sigma(Q), before RoPE
            a_mem = ((sq @ mem[0]) / (sq @ z[0].unsqueeze(-1) + 1e-6)).reshape(self.h, self.hd)
            gp = torch.sigmoid(at.gate).view(self.h, 1)
            x = x + at.o((gp * a_mem + (1 - gp) * a_dot).reshape(-1))
            h2 = blk.n2(x)
            x = x + blk.down(F.gelu(blk.gate(h2), approximate="tanh") * blk.up(h2))
        logits = self.m.norm(x) @ self.m.emb.weight.t()
        self.tokens.append(token)
        self.filled += 1
        if self.filled == self.seg:                                          # the segment into memory (eq. 4)
            self.mems = [(mem + (sk.transpose(1, 2) @ v).unsqueeze(0), z + sk.sum(1).unsqueeze(0))
                         for (mem, z), sk, v in zip(self.mems, self.csk, self.cv)]
            self.tokens, self.filled = [], 0
        return logits


def check(model, segment):
    """Max relative error of step logits (memory written from the cache) against the segment-by-segment forward pass
    over 2.5 segments."""
    ids = torch.randint(0, 256, (int(2.5 * segment),)).tolist()
    dec, worst = Decoder(model, segment), 0.0
    mems = [(torch.zeros(1, dec.kv, dec.hd, dec.hd), torch.zeros(1, dec.kv, dec.hd)) for _ in model.blocks]
    full = []
    for s0 in range(0, len(ids), segment):
        out, mems = model(torch.tensor([ids[s0:s0 + segment]]), mems)
        full.append(out[0])
    full = torch.cat(full)
    for t, tok in enumerate(ids):
        got = dec.step(tok)
        worst = max(worst, ((got - full[t]).norm() / full[t].norm()).item())
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--context", type=int, default=1024, help="tokens fed before decoding")
    ap.add_argument("--tokens", type=int, default=512, help="tokens decoded and timed (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=256, help="tokens decoded before timing")
    ap.add_argument("--segment", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", action="store_true", help="first check step logits against the full forward pass")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model().eval()
    with torch.no_grad():
        for p in model.parameters():                                         # random gates and norms matter too
            if p.dim() <= 1 or p.shape[-1] == 1:
                p.normal_(0, 0.1)
        err = check(model, a.segment) if a.check else None
        dec = Decoder(model, a.segment)
        logits = dec.feed(torch.randint(0, 256, (a.context,)).tolist())
        for _ in range(a.warmup):                                            # warm-up
            logits = dec.step(int(logits.argmax()))
        t0 = time.perf_counter()
        for _ in range(a.tokens):
            logits = dec.step(int(logits.argmax()))
        secs = time.perf_counter() - t0
    out = {"bench": "pytorch-decode", "torch": torch.__version__, "threads": a.threads, "context": a.context,
           "warmup": a.warmup, "tokens": a.tokens, "segment": a.segment, "tokens_per_s": round(a.tokens / secs, 1)}
    if err is not None:
        out["check_max_rel_error"] = err
    print(json.dumps(out))


if __name__ == "__main__":
    main()
