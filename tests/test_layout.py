"""The generic top-level names (spiders, pipelines, storage, scheduler) must come from this checkout."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["spiders", "pipelines", "storage", "scheduler", "munijobs"])
def test_package_is_imported_from_this_checkout(name):
    module = __import__(name)
    assert Path(module.__file__).resolve().is_relative_to(ROOT), f"{name} imported from {module.__file__}"


def test_scrapy_settings_module_is_munijobs():
    assert (ROOT / "scrapy.cfg").read_text().split("default =")[1].strip() == "munijobs.settings"
