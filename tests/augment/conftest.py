"""Fixtures shared by the augmentation tests."""

import pytest

from dstorch.augment import cache


@pytest.fixture
def bank_cache_in_tmp(tmp_path):
    """Banks go to this test's folder, and nothing is remembered from other tests."""
    cache.use_data_dir(tmp_path)
    cache._loaded.clear()
    yield
    cache.use_data_dir(None)
    cache._loaded.clear()
