"""LoRA-tune the embedded SmolLM2-135M on the 100 LAMP dev items' expert-edited paragraphs (protocol.md).

Each training sequence is what scoring feeds the model under the constraint: the start token cqmetric uses for
this model, the default template's rendering of the instruction, then the paragraph's tokens (tokenized on its
own, as cqmetric does); the loss is the mean cross-entropy over the paragraph's tokens. The adapter after each
epoch is saved to OUT/epoch-N (outside the repository: adapters are not committed; this script recreates
them), and the run's record (seed, data fingerprint, losses, times) to OUT/tuning.json and
benchmarks/results/cqa_tuning.json.

Run: nice -n 19 .venv/bin/python benchmarks/cqa/tune.py [--out DIR]   (about 10 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import data  # noqa: E402
from _meta import provenance  # noqa: E402

SEED = 1234
EPOCHS = 5
LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
LEARNING_RATE = 2e-4


def default_out() -> Path:
    cache = os.environ.get("CQMETRIC_CACHE")
    return Path(cache) / "cqa-adapters" if cache else Path("/work/cache/cqa-adapters")


def sequences(tokenizer, rows):
    """(ids, n_context) per row, built with cqmetric's own front end and template."""
    from cqmetric.backends.tokens import TokenizerFrontEnd
    from cqmetric.constraints import DEFAULT_TEMPLATE, ConstraintSet

    front = TokenizerFrontEnd(tokenizer, start_token="prepend", start_token_id=0)  # as load_embedded
    out = []
    for r in rows:
        ctx = front.context_ids(DEFAULT_TEMPLATE.render(ConstraintSet.from_prompt(r["constraint"])))
        ids = [int(i) for i in front.tokenize(r["text"]).token_ids]
        out.append((ctx + ids, len(ctx)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out(), help="where the adapters go (outside the repo)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared, loaded machine two threads wait on each other)")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    if out == ROOT_REPO or ROOT_REPO in out.parents:
        raise SystemExit(f"--out must be outside the repository, got {out}")

    import numpy as np
    import peft
    import torch

    from cqmetric.backends.embedded import embedded_model_dir
    from cqmetric.backends.loading import load_local

    torch.set_num_threads(args.threads)
    rows = data.training_items()
    folder, sha = embedded_model_dir()
    torch.manual_seed(SEED)
    model, tokenizer = load_local(folder, dtype=torch.float32)
    model = peft.get_peft_model(model, peft.LoraConfig(**LORA, bias="none"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE, weight_decay=0.0)
    seqs = sequences(tokenizer, rows)
    rng = np.random.default_rng(SEED)
    record = {
        "what": "LoRA tuning of the embedded SmolLM2-135M on the LAMP dev items' Human-edited paragraphs",
        "protocol": "benchmarks/cqa/protocol.md", "base": {"folder_name": folder.name, "gguf_sha256_12": sha},
        "data": {"n_items": len(rows), "fingerprint": data.fingerprint(rows), "split": "dev",
                 "split_file_fingerprint": data.fingerprint(data.lamp_split()),
                 "tokens": int(sum(len(s) - c for s, c in seqs))},
        "seed": SEED, "epochs": EPOCHS, "lora": LORA, "learning_rate": LEARNING_RATE, "optimizer": "AdamW",
        "weight_decay": 0.0, "batch": "one item per step, no padding",
        "precision": "fp32 weights and optimizer, bf16 autocast in the forward and backward passes (amendment 2)", "trainable_parameters": int(trainable),
        "peft": peft.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "epochs_log": [], "provenance": provenance(),
    }
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model.train()
    for epoch in range(1, EPOCHS + 1):
        t0, losses = time.perf_counter(), []
        for i in rng.permutation(len(seqs)):
            ids, n_ctx = seqs[int(i)]
            x = torch.tensor([ids])
            labels = torch.tensor([[-100] * n_ctx + ids[n_ctx:]])
            with torch.autocast("cpu", dtype=torch.bfloat16):  # protocol.md, amendment 2
                loss = model(input_ids=x, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
        target = out / f"epoch-{epoch}"
        model.save_pretrained(target)
        entry = {"epoch": epoch, "mean_loss_nats": float(np.mean(losses)), "seconds": time.perf_counter() - t0,
                 "adapter": str(target)}
        record["epochs_log"].append(entry)
        print(f"epoch {epoch}: mean loss {entry['mean_loss_nats']:.4f} nats/token, {entry['seconds']:.0f} s",
              flush=True)
    record["wall_seconds"] = time.perf_counter() - start
    text = json.dumps(record, indent=2)
    (out / "tuning.json").write_text(text)
    (ROOT_REPO / "benchmarks" / "results" / "cqa_tuning.json").write_text(text + "\n")
    print(f"adapters in {out}; record in benchmarks/results/cqa_tuning.json")
    return 0


ROOT_REPO = HERE.parents[1]

if __name__ == "__main__":
    raise SystemExit(main())
