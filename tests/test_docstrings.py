"""The examples in dvlab's docstrings hold: each module's ``>>>`` lines are run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dvlab

MODULES = sorted(info.name for info in pkgutil.walk_packages(dvlab.__path__, prefix="dvlab."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(module):
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} docstring example(s) of {name} failed"


def test_the_examples_are_found() -> None:
    """A finder that found nothing would pass every module above."""
    module = importlib.import_module("dvlab.lab.queries")
    examples = sum(len(t.examples) for t in doctest.DocTestFinder().find(module))
    assert examples >= 2
