"""Spiders used only by tests (loaded with -s SPIDER_MODULES=spiders,tests.fakes.spiders)."""
