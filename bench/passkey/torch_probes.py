#!/usr/bin/env python3
"""Fast PyTorch probes of the passkey demonstration's learning problem (README, "The passkey demonstration").

The model is bench/pytorch_reference.py's `Model`: the `tiny` preset's architecture (Gemma family, vocab 260,
hidden 256, 4 layers, 4 query heads, 1 KV head, head_dim 64, MLP 1024, linear memory), weights normal(0, 0.02),
AdamW with weight decay 0.1 and gradient clipping at 1, a linear warmup then either a constant learning rate or the
trainer's cosine decay to 10% (--cosine). It runs on one thread, so two probes fit on the two cores beside nothing
else. Every probe is deterministic by --seed.

  copy     random digit strings (3-8 digits) each followed by its copy, "3071 | 3071. 58 | 58. ...", in windows
           of --seq-len tokens; prints the loss and the accuracy on the copied digits (the induction test).
  passkey  the passkey task in the layout of datasets' PasskeyTask (byte tokens, BOS, the paper's intro and
           filler), the key at a uniform random depth, run in segments of --segment tokens with the memory passed
           on; prints the loss (prompt tokens weighted --prompt-weight) and the answer digits' loss and accuracy.

  episodes short passkey episodes (make_copy_corpus.py --kind episodes) with --copy-mix of the pieces digit
           copies, in windows of --seq-len tokens, one segment; prints the loss and the answer digits' loss and
           accuracy (few answers per batch: read the trend).

All take --load/--save (a state dict), so a copy warm-up can be followed by passkey fine-tuning:

  /usr/bin/python3 bench/passkey/torch_probes.py copy --steps 700 --save /tmp/copy.pt
  /usr/bin/python3 bench/passkey/torch_probes.py passkey --load /tmp/copy.pt --seq-len 1024 --segment 256 \\
      --batch 4 --steps 300
"""
import argparse
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pytorch_reference import Model  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_copy_corpus import digits, episode  # noqa: E402

BOS = 256
INTRO = (b"There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
         b"I will quiz you about the important information there.")
FILLER = b" The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
QUESTION = b" What is the pass key? The pass key is"


def copy_window(r, n):
    """n + 1 byte ids of digit strings and their copies (make_copy_corpus.py --kind digits, joined by spaces), and
    a mask over the n targets: 1 on copied digits."""
    ids, mask = [], []
    while len(ids) < n + 1:
        pair = digits(r)  # "3071 | 3071."
        k = (len(pair) - 4) // 2
        ids += list(pair.encode()) + [ord(" ")]
        mask += [0] * (k + 3) + [1] * k + [0, 0]
    return ids[:n + 1], mask[1:n + 1]


def episode_window(r, n, copy_fraction):
    """n + 1 byte ids of short passkey episodes (make_copy_corpus.py --kind episodes: filler, key sentence, filler,
    question, answer) and, a `copy_fraction` of the pieces, digit copies, joined by spaces; and a mask over the n
    targets: 1 on the answers' five digits. A window starts at a piece's start, so every answer in it has its key."""
    question = QUESTION.lstrip() + b" "  # the answer's digits follow it
    ids, mask = [], []
    while len(ids) < n + 1:
        if r.random() < copy_fraction:
            text = digits(r).encode()
            marks = [0] * len(text)
        else:
            text = episode(r).encode()
            marks = [0] * len(text)
            start = text.index(question) + len(question)
            marks[start:start + 5] = [1] * 5
        ids += list(text) + [ord(" ")]
        mask += marks + [0]
    return ids[:n + 1], mask[1:n + 1]


def passkey_sample(r, length):
    """A prompt of `length` ids (BOS included) followed by the answer " ddddd" (6 ids)."""
    key = str(r.randint(10000, 99999)).encode()
    sentence = b" The pass key is %s. Remember it. %s is the pass key." % (key, key)
    budget = length - 1 - len(INTRO) - len(sentence) - len(QUESTION)
    if budget < 0:
        raise SystemExit(f"--seq-len {length} is too short for a passkey prompt (needs {length - budget})")
    before = round(r.random() * budget)
    fill = lambda k: bytes(FILLER[i % len(FILLER)] for i in range(k))  # noqa: E731
    return [BOS] + list(INTRO + fill(before) + sentence + fill(budget - before) + QUESTION) + list(b" " + key)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=["copy", "passkey", "episodes"])
    ap.add_argument("--seq-len", type=int, default=None,
                    help="copy: 32; passkey: 256 (the prompt, answer excluded); episodes: 256")
    ap.add_argument("--segment", type=int, default=256)
    ap.add_argument("--batch", type=int, default=None, help="copy: 32; passkey: 16; episodes: 8")
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--cosine", action="store_true", help="the trainer's schedule: cosine decay to 10%% of --lr")
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--prompt-weight", type=float, default=1.0)
    ap.add_argument("--copy-mix", type=float, default=0.0,
                    help="passkey: this fraction of the rows are digit-copy windows instead (all tokens in the loss); "
                         "episodes: this fraction of the pieces are digit copies")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--load")
    ap.add_argument("--save")
    ap.add_argument("--every", type=int, default=50, help="print every N steps")
    a = ap.parse_args()
    seq = a.seq_len or (32 if a.task == "copy" else 256)
    batch = a.batch or {"copy": 32, "passkey": 16, "episodes": 8}[a.task]
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    r = random.Random(a.seed)
    model = Model()
    for p in model.parameters():
        if p.dim() > 1:
            torch.nn.init.normal_(p, 0, 0.02)
    if a.load:
        model.load_state_dict(torch.load(a.load))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.1, betas=(0.9, a.beta2))
    t0 = time.time()
    for step in range(1, a.steps + 1):
        lr = a.lr * min(1.0, step / a.warmup)
        if a.cosine:
            lr *= 0.1 + 0.45 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        if a.task != "passkey":
            rows = [copy_window(r, seq) if a.task == "copy" else episode_window(r, seq, a.copy_mix)
                    for _ in range(batch)]
            x = torch.tensor([ids for ids, _ in rows])
            scored = torch.tensor([m for _, m in rows], dtype=torch.bool)  # copied digits / answer digits
            weight = torch.ones(x.shape[0], x.shape[1] - 1)
        else:
            copies = [r.random() < a.copy_mix for _ in range(batch)]
            x = torch.tensor([copy_window(r, seq + 5)[0] if c else passkey_sample(r, seq) for c in copies])
            scored = torch.zeros(x.shape[0], x.shape[1] - 1, dtype=torch.bool)
            scored[:, seq:] = True  # targets seq..seq+4: the five digits (target seq-1 is the answer's space)
            weight = torch.full(scored.shape, a.prompt_weight)
            weight[:, seq - 1:] = 1.0
            for i, c in enumerate(copies):
                if c:
                    scored[i] = False
                    weight[i] = 1.0
        inp, tgt = x[:, :-1], x[:, 1:]
        mems = [(torch.zeros(batch, 1, 64, 64), torch.zeros(batch, 1, 64)) for _ in model.blocks]
        parts = []
        for s0 in range(0, inp.shape[1], a.segment):  # segment by segment, memory passed on (not detached)
            out, mems = model(inp[:, s0:s0 + a.segment], mems)
            parts.append(out)
        logits = torch.cat(parts, 1)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none").view(tgt.shape)
        loss = (nll * weight).sum() / weight.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % a.every == 0 or step == a.steps:
            acc = (logits.argmax(-1) == tgt)[scored].float().mean().item()
            what = "copied digits" if a.task == "copy" else "answer digits"  # episodes: those in this batch
            print(f"step {step} loss {loss.item():.3f} | {what}: loss {nll[scored].mean().item():.3f}, "
                  f"accuracy {acc:.2f} | {time.time() - t0:.0f} s", flush=True)
    if a.save:
        torch.save(model.state_dict(), a.save)


if __name__ == "__main__":
    main()
