"""Ray Data on a local cluster (`ray.init(num_cpus=2)`): `score_dataset` with 2 actors equals `score()` row by row."""

from __future__ import annotations

import numpy as np
import pytest

from cqmetric.errors import InputValidationError

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="ray is not installed: `make install` puts it into .venv")

TEXTS = [
    "The cat sat on the mat.",
    "A lighthouse keeper climbed the stairs at dawn and wiped the salt from the lens.",
    "She laughed.",
    "Rain fell on the town for a hundred years, and the people learned to swim.",
    "The dog slept by the door while the letter waited on the table.",
    "He read it twice.",
    "The robot gardener trimmed the grass every morning.",
    "She opened the letter, read it twice, and laughed at the strange handwriting.",
] * 3
PROMPTS = ["Write about a cat.", "Write about the sea.", "Write about a letter."] * 8


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_score_dataset_equals_score_with_two_actors(local_ray, tiny_model_dir):
    import ray.data

    from cqmetric import score
    from cqmetric.integrations.ray import score_dataset

    rows = [{"id": i, "story": t, "prompt": p} for i, (t, p) in enumerate(zip(TEXTS, PROMPTS))]
    ds = ray.data.from_items(rows, override_num_blocks=4)
    scored = score_dataset(ds, text_column="story", constraint_column="prompt", model=str(tiny_model_dir),
                           concurrency=2, num_cpus=1, rows_per_batch=5, batch_size=3)
    out = sorted(scored.take_all(), key=lambda r: r["id"])
    expected = score(TEXTS, PROMPTS, model=str(tiny_model_dir), n_boot=0)
    assert [r["id"] for r in out] == list(range(len(rows)))  # every row once
    assert [r["story"] for r in out] == TEXTS  # the input columns come back unchanged
    for name in ("calibrated_surprise", "surprise", "residual"):
        np.testing.assert_allclose([r[name] for r in out], expected[name], atol=1e-5, rtol=0)
    assert [r["n_tokens"] for r in out] == expected.n_tokens.tolist()
    assert {r["signature"] for r in out} == {expected.signature.format()}


def test_score_dataset_checks_before_any_actor_starts(local_ray, tiny_model_dir):
    import ray.data

    from cqmetric.integrations.ray import score_dataset

    ds = ray.data.from_items([{"story": "A text.", "signature": "x"}])
    with pytest.raises(InputValidationError, match="column 'text'"):
        score_dataset(ds, text_column="text", model=str(tiny_model_dir))
    with pytest.raises(InputValidationError, match="'signature'"):
        score_dataset(ds, text_column="story", model=str(tiny_model_dir))
    with pytest.raises(InputValidationError, match="normalization"):
        score_dataset(ds.drop_columns(["signature"]), text_column="story", normalization="lines")


@pytest.mark.slow
def test_ray_actors_read_the_embedded_folder_like_score(local_ray, embedded_backend):
    # Each actor loads the converted folder by path and reads its rules itself (start token id 0): the same
    # numbers and signature as score() with the embedded model, without anyone copying the rule by hand.
    import ray.data

    from cqmetric import score
    from cqmetric.backends.embedded import embedded_model_dir
    from cqmetric.integrations.ray import score_dataset

    rows = [{"id": i, "story": t, "prompt": p} for i, (t, p) in enumerate(zip(TEXTS[:6], PROMPTS[:6]))]
    scored = score_dataset(ray.data.from_items(rows, override_num_blocks=2), text_column="story",
                           constraint_column="prompt", model=str(embedded_model_dir()[0]), concurrency=1, num_cpus=1)
    out = sorted(scored.take_all(), key=lambda r: r["id"])
    expected = score(TEXTS[:6], PROMPTS[:6], n_boot=0)
    for name in ("calibrated_surprise", "surprise", "residual"):
        np.testing.assert_allclose([r[name] for r in out], expected[name], atol=1e-5, rtol=0)
    assert {r["signature"] for r in out} == {expected.signature.format()}
