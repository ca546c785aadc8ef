"""The examples in the package's docstrings run, against the installed tamis.

(Collected from the imported modules rather than with ``--doctest-modules`` over the source tree,
which CI installs as a wheel: the source folder has no extension module.)
"""

import doctest
import importlib
import pkgutil

import pytest

import tamis

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(tamis.__path__, "tamis.")
    if m.name not in ("tamis._core", "tamis.__main__")  # __main__ runs the CLI on import
)


def test_modules_were_found():
    assert {"tamis.io", "tamis.dedup", "tamis.importance.estimator"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        if test.examples and test.name.startswith(name):
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} failing examples in {name} (see output)"
