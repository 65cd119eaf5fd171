#!/usr/bin/env python3
"""Writes a copy-rich warm-up corpus for the passkey demonstration (JSONL, one document per line, field "text").

--kind repeat (the default): each document strings together random strings of letters and digits, each
followed by its copy ("q8zk2 | q8zk2."). --kind digits: the same with strings of 3-8 digits ("3071 | 3071.").
--kind episodes: short passkey episodes in the format of the passkey task (datasets' PasskeyTask): filler
sentences, the key sentence with a random 5-digit key, more filler, then the question and its answer. A tiny model trained from scratch has no induction ("copy what followed this
context earlier") mechanism; a pretrained LLM, like the paper's, has one. These corpora are warm-ups meant to
grow it before the passkey fine-tuning; README ("The passkey demonstration") reports how far they got.

Usage: make_copy_corpus.py OUT.jsonl [--kind repeat|digits|episodes] [--docs 3000] [--episodes 12] [--seed 7]
"""
import argparse
import json
import random

FILLER = ["The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.", "There and back again."]


def episode(r: random.Random) -> str:
    key = str(r.randint(10000, 99999))
    parts = [FILLER[(i + r.randrange(5)) % 5] for i in range(r.randint(0, 3))]
    parts.append(f"The pass key is {key}. Remember it. {key} is the pass key.")
    parts += [FILLER[(i + r.randrange(5)) % 5] for i in range(r.randint(0, 3))]
    parts.append(f"What is the pass key? The pass key is {key}.")
    return " ".join(parts)


ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def repeat(r: random.Random) -> str:
    """A random string and its copy: half the characters are predictable only by looking back."""
    s = "".join(r.choice(ALPHABET) for _ in range(r.randint(8, 40)))
    return f"{s} | {s}."


DIGITS = "0123456789"


def digits(r: random.Random) -> str:
    """A short random digit string and its copy ("3071 | 3071."), for the digit copying the passkey answer needs.
    On these the tiny architecture left the no-copy plateau after 450-600 steps for one seed of two tried (README);
    on the 36-symbol strings of --kind repeat it stayed there for over a thousand."""
    s = "".join(r.choice(DIGITS) for _ in range(r.randint(3, 8)))
    return f"{s} | {s}."


KINDS = {"repeat": repeat, "episodes": episode, "digits": digits}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--episodes", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--kind", choices=sorted(KINDS), default="repeat",
                    help="repeat: random strings each followed by its copy; digits: the same with short digit "
                         "strings; episodes: dense passkey episodes")
    a = ap.parse_args()
    r = random.Random(a.seed)
    with open(a.out, "w") as f:
        for _ in range(a.docs):
            make = KINDS[a.kind]
            f.write(json.dumps({"text": " ".join(make(r) for _ in range(a.episodes))}) + "\n")


if __name__ == "__main__":
    main()
