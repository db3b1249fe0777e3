"""Does a chat model's own turn format carry the prompt better than the labelled template? A probe on a few dev
prompts: calibrated surprise and prompt-swap accuracy under `CHAT_TEMPLATE`, beside the labelled template's values
for the same stories (from the earlier complete run). Writes results/template_probe_<name>.json.

Run:  .venv/bin/python benchmarks/validity/tool.py template-probe --prompts 6
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from explore import RESULTS, load_v1, split_prompts  # noqa: E402

from cqmetric import CHAT_TEMPLATE, score  # noqa: E402
from cqmetric.backends.cache import CachingBackend  # noqa: E402
from cqmetric.backends.embedded import load_embedded  # noqa: E402
from cqmetric.research.hanna import load_hanna  # noqa: E402
from cqmetric.research.perturb import derangement  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=6, help="the first N dev prompts")
    args = parser.parse_args(argv)
    h = load_hanna()
    v1 = load_v1()
    stories = h.stories.set_index("story_id")
    prompt_of = stories.groupby("prompt_index")["prompt"].first()
    perm = derangement(len(prompt_of), seed=12345)  # the earlier run's swap
    chosen = split_prompts("dev")[: args.prompts]
    ids = [int(s) for s in h.story_id if int(h.prompt_index[int(s)]) in set(chosen)]
    texts = [stories.loc[i, "story"] for i in ids]
    own = [prompt_of[stories.loc[i, "prompt_index"]] for i in ids]
    other = [prompt_of[perm[stories.loc[i, "prompt_index"]]] for i in ids]
    backend = CachingBackend(load_embedded(share_prefix=False))
    a = score(texts, own, model=backend, template=CHAT_TEMPLATE, n_boot=0)
    b = score(texts, other, model=backend, template=CHAT_TEMPLATE, n_boot=0)
    chat_own, chat_other = a["calibrated_surprise"], b["calibrated_surprise"]
    lab_own = np.array([v1["original"][i]["cs_mean"] for i in ids])
    lab_other = np.array([v1["prompt_swap"][i]["cs_mean"] for i in ids])
    out = {"prompts": chosen, "n_stories": len(ids), "signature": a.signature.format(),
           "chat": {"cs_mean": float(chat_own.mean()), "swap_accuracy": float(np.mean(chat_own > chat_other))},
           "labelled": {"cs_mean": float(lab_own.mean()), "swap_accuracy": float(np.mean(lab_own > lab_other))},
           "per_story": [{"story_id": i, "chat_own": float(x), "chat_other": float(y)}
                         for i, x, y in zip(ids, chat_own, chat_other)]}
    (RESULTS / "template_probe_smollm2.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "per_story"}, indent=1))
    return 0

