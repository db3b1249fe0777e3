"""Helpers shared by tests (importable as `support`: the tests folder is on the path through its conftest)."""

from __future__ import annotations


def reference_logprobs(model, tokenizer, start_id, context: str, text_ids, *, window=None):
    """log p(x_t | start, context, x_<t) (nats) from plain unpadded forward passes and a full fp32 log-softmax.

    An independent reference for the backends: the context is tokenized here with the tokenizer itself, the
    start id is given by the test, and nothing of cqmetric's batching, caching or windowing is used. With
    `window=(budget, stride)` the text is fed in windows of at most `budget` text tokens, the first scoring all
    its tokens and each later one `stride` new tokens after the preceding text that still fits.
    """
    import numpy as np
    import torch

    prefix = ([] if start_id is None else [start_id]) + list(tokenizer(context, add_special_tokens=False)["input_ids"])
    text_ids = list(text_ids)
    pieces = [(0, len(text_ids), 0)]
    if window is not None and len(text_ids) > window[0]:
        budget, stride = window
        pieces, end = [(0, budget, 0)], budget
        while end < len(text_ids):
            new_end = min(end + stride, len(text_ids))
            pieces.append((max(0, new_end - budget), new_end, end))
            end = new_end
    out = []
    for start, end, first in pieces:
        ids = prefix + text_ids[start:end]
        with torch.no_grad():
            lsm = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
        n_ctx = len(prefix)
        out += [lsm[n_ctx - 1 + t - start, text_ids[t]].item() for t in range(first, end)]
    return np.array(out)


def reference_creative_quality(parts, c):
    """CreativeQuality written out in the test, independently of the library's functional layer."""
    import math

    out = []
    for oc, cs, s in zip(parts["order_calibration"], parts["calibrated_surprise"], parts["surprise"]):
        order_gate = 1 / (1 + math.exp(-(oc - c["order_center"]) / c["order_scale"]))
        fit_gate = 1 / (1 + math.exp(-(cs - c["fit_center"]) / c["fit_scale"]))
        out.append(order_gate * fit_gate * (1 + c["lam"] * s))
    return out
