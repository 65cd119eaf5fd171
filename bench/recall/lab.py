#!/usr/bin/env python3
"""A fast laboratory for the associative-recall plateau (README, "Associative recall"): the recall task trained in
PyTorch on the model math of `bench/pytorch_reference.py` (Gemma block, Infini-attention with the delta rule, exact
gradient through memory), to ask in minutes what the Java trainer would answer in an hour. It is a diagnostic, not a
recipe: the shipped model and every figure of the recipe come from `./infini train`.

Tasks (`--task`):
  recall  the recall format of `./infini train --corpus recall`: `--block` bytes for the pairs, `gap` filler blocks,
          `--block` bytes for the queries, run in segments of `--segment` (a segment of 2 x block with gap 0 puts the
          pairs and the queries in one segment: local attention can answer, the memory is not needed);
  copy    `--block` random letters, then the same letters rotated by a random offset (induction on every byte);
  text    windows of Moby-Dick (the project's corpus), every byte scored;
  skip    random triplets `a b a` (letters): at each `b` the next byte is the one before it, which only a
          previous-token head can see (a warm-up for the step binding needs).
`--shift` adds to each position a learnt embedding of the previous byte within its segment (a "token shift", beyond
the paper; the model's opt-in `token_shift`, docs/spec.md, has it with `--shift-start none`: nothing added at a
segment's first position; the default `token0` adds the learnt row of id 0 there, a segment-start marker). Every `--every` steps it prints the accuracy of 8-pair
samples at each gap (64 samples each) and the gates' mean sigmoid per layer.

    /usr/bin/python3 bench/recall/lab.py --segment 64 --block 32 --gaps 0 --steps 3000             # local, no shift
    /usr/bin/python3 bench/recall/lab.py --segment 64 --block 32 --gaps 0 --steps 3000 --shift     # local, shift
    /usr/bin/python3 bench/recall/lab.py --segment 32 --gaps 0,1,2 --steps 3000 --shift            # through memory
    /usr/bin/python3 bench/recall/lab.py --segment 32 --gaps 0,1,2 --steps 3000 --shift --shift-start none  # as token_shift
"""
import argparse
import gzip
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import pytorch_reference as R  # noqa: E402


def recall_sample(rng, pairs, gap, block):
    """The format of RecallTask with blocks of `block` bytes; returns ids and the positions whose next byte is scored."""
    keys = rng.sample(range(26), pairs)
    vals = [rng.randrange(26) for _ in keys]

    def fill(n):
        return [48 + rng.randrange(10) for _ in range(n)]

    p = [t for k, v in zip(keys, vals) for t in (97 + k, 65 + v, 32)]
    order = list(range(pairs))
    rng.shuffle(order)
    q = [t for i in order for t in (97 + keys[i], 65 + vals[i], 32)]
    ids = p + fill(block - len(p)) + fill(block * gap) + q + fill(block - len(q))
    base = block * (gap + 1)
    return ids, [base + 3 * j for j in range(pairs)]


def copy_sample(rng, block):
    r = [rng.choice(list(range(65, 91)) + list(range(97, 123))) for _ in range(block)]
    k = rng.randrange(block)
    return r + r[k:] + r[:k], list(range(block, 2 * block - 1))


def skip_sample(rng, block):
    ids, pos = [], []
    while len(ids) + 3 <= 2 * block:
        a, b = rng.randrange(97, 123), rng.randrange(65, 91)
        pos.append(len(ids) + 1)
        ids += [a, b, a]
    return ids + [32] * (2 * block - len(ids)), pos


def batch(rng, task, size, pairs, gap, block, text=None):
    xs, ms = [], []
    for _ in range(size):
        if task == 'copy':
            ids, pos = copy_sample(rng, block)
        elif task == 'skip':
            ids, pos = skip_sample(rng, block)
        elif task == 'text':
            i = rng.randrange(len(text) - 2 * block)
            ids, pos = list(text[i:i + 2 * block]), list(range(2 * block - 1))
        else:
            ids, pos = recall_sample(rng, rng.randint(*pairs), gap, block)
        m = [False] * len(ids)
        for p in pos:
            m[p] = True
        xs.append(ids)
        ms.append(m)
    return torch.tensor(xs), torch.tensor(ms)


def run(model, ids, segment, a):
    """Segment by segment, memory passed on with its gradient (full back-propagation through memory)."""
    mems = [(torch.zeros(ids.shape[0], a.kv_heads, a.head_dim, a.head_dim), torch.zeros(ids.shape[0], a.kv_heads, a.head_dim))
            for _ in range(a.layers)]
    out = []
    for s0 in range(0, ids.shape[1], segment):
        lg, mems = model(ids[:, s0:s0 + segment], mems)
        out.append(lg)
    return torch.cat(out, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--task', default='recall', choices=['recall', 'copy', 'text', 'skip'])
    ap.add_argument('--segment', type=int, default=32)
    ap.add_argument('--block', type=int, default=32)
    ap.add_argument('--gaps', default='0,1,2')
    ap.add_argument('--pairs', default='1-8')
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--layers', type=int, default=2)
    ap.add_argument('--hidden', type=int, default=128)
    ap.add_argument('--heads', type=int, default=2)
    ap.add_argument('--kv-heads', type=int, default=2)
    ap.add_argument('--head-dim', type=int, default=64)
    ap.add_argument('--intermediate', type=int, default=512)
    ap.add_argument('--rope-theta', type=float, default=10000.0)
    ap.add_argument('--linear', action='store_true', help='linear memory update (default: delta)')
    ap.add_argument('--shift', action='store_true', help='add a learnt embedding of the previous byte (not this project\'s model)')
    ap.add_argument('--shift-start', default='token0', choices=['token0', 'none'],
                    help="what the shift adds at a segment's first position: the row of id 0, learnt (a segment-start "
                         "marker; default), or nothing (as this project's token_shift)")
    ap.add_argument('--gate-lr-multiplier', type=float, default=10.0)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--every', type=int, default=250)
    ap.add_argument('--eval-gaps', help='gaps of the reports (default: the training gaps and twice the largest)')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--save', help='state dict written at every report')
    ap.add_argument('--load', help='state dict to start from')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    model = R.Model(260, a.hidden, a.layers, a.heads, a.kv_heads, a.head_dim, a.intermediate)
    model.shift = torch.nn.Embedding(260, a.hidden) if a.shift else None
    for m in model.modules():
        if isinstance(m, R.InfiniAttention):
            m.delta, m.theta = not a.linear, a.rope_theta
    for p in model.parameters():                                        # as InfiniModel.random: N(0, 0.02)
        if p.dim() == 2:
            torch.nn.init.normal_(p, 0, 0.02)
    if a.shift and a.shift_start == 'none':         # row 0 held at zero: nothing added at a segment's first position
        model.shift.padding_idx = 0
        with torch.no_grad():
            model.shift.weight[0].zero_()
    if a.load:
        model.load_state_dict(torch.load(a.load))
    gates = [p for n, p in model.named_parameters() if n.endswith('attn.gate')]
    rest = [p for n, p in model.named_parameters() if not n.endswith('attn.gate')]
    # As the Java trainer: AdamW (0.9, 0.95, 1e-8), no weight decay, gates at their own rate, clip 1, warmup 50, cosine to 0.1.
    opt = torch.optim.AdamW([{'params': rest, 'mult': 1.0}, {'params': gates, 'mult': a.gate_lr_multiplier}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    lo, hi = (int(x) for x in a.pairs.split('-')) if '-' in a.pairs else (int(a.pairs),) * 2
    gaps = [int(g) for g in a.gaps.split(',')]
    text = gzip.open(os.path.join(HERE, '../../datasets/src/main/resources/dev/infini/datasets/corpora/moby-dick.txt.gz')).read() \
        if a.task == 'text' else None
    t0, ema = time.time(), None
    for step in range(1, a.steps + 1):
        lr = a.lr * min(1.0, step / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        for group in opt.param_groups:
            group['lr'] = lr * group['mult']
        ids, mask = batch(rng, a.task, a.batch, (lo, hi), rng.choice(gaps), a.block, text)
        logits = run(model, ids, a.segment, a)
        loss = F.cross_entropy(logits[:, :-1][mask[:, :-1]], ids[:, 1:][mask[:, :-1]])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % a.every == 0 or step == a.steps:
            accs = []
            with torch.no_grad():
                for g in ([int(x) for x in a.eval_gaps.split(',')] if a.eval_gaps else sorted(set(gaps + [2 * max(gaps)]))):
                    ids, mask = batch(random.Random(999 + g), 'recall', 64, (8, 8), g, a.block)
                    pred = run(model, ids, a.segment, a)[:, :-1].argmax(-1)
                    accs.append('gap %d %.2f' % (g, (pred[mask[:, :-1]] == ids[:, 1:][mask[:, :-1]]).float().mean().item()))
            if a.save:
                torch.save(model.state_dict(), a.save)
            gs = ' '.join('%.2f' % torch.sigmoid(p).mean().item() for p in gates)
            print(f'step {step} loss {ema:.3f} | 8 pairs: {", ".join(accs)} | gates {gs} | {time.time() - t0:.0f} s', flush=True)


if __name__ == '__main__':
    main()
