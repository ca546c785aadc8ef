"""The vocabulary of docs/conventions.md, checked on the public API and the CLI."""

import importlib
import inspect

import pytest

from tamis.cli import build_parser

MODULES = [
    "tamis",
    "tamis.io",
    "tamis.output",
    "tamis.features",
    "tamis.text",
    "tamis.dedup",
    "tamis.decontam",
    "tamis.importance",
    "tamis.sensitivity",
    "tamis.balance",
    "tamis.cluster",
    "tamis.scoring",
    "tamis.mix",
    "tamis.quality",
]
#: Names docs/conventions.md replaces, and by what.
BANNED = {
    "random_state": "seed",
    "random_seed": "seed",
    "n_jobs": "n_threads",
    "num_threads": "n_threads",
    "threads": "n_threads",
    "n_select": "k",
    "num_samples": "k",
    "verbose": "show_progress",
}


def public_callables():
    seen = set()
    for name in MODULES:
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            if not callable(obj) or id(obj) in seen or isinstance(obj, type(BaseException)):
                continue
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue
            seen.add(id(obj))
            targets = [obj.__init__] if inspect.isclass(obj) else [obj]
            if inspect.isclass(obj):
                targets += [
                    m for n, m in vars(obj).items() if callable(m) and not n.startswith("_")
                ]
            for fn in targets:
                try:
                    yield f"{name}.{attr}", inspect.signature(fn)
                except (TypeError, ValueError):
                    continue


def test_public_parameters_use_the_vocabulary():
    bad = []
    for where, sig in public_callables():
        for p in sig.parameters:
            if p in BANNED:
                bad.append(f"{where}({p}): use {BANNED[p]}")
    assert bad == []


def test_a_count_named_k_is_an_integer():
    for where, sig in public_callables():
        p = sig.parameters.get("k")
        if p is not None and p.default is not inspect.Parameter.empty and p.default is not None:
            assert isinstance(p.default, int), where


def cli_actions():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                yield name, action


@pytest.mark.parametrize(
    "cmd",
    ["features", "stats", "dsir", "dedup", "score", "coreset", "cluster", "semdedup", "filter"],
)
def test_cli_flags_are_parameter_names(cmd):
    for name, action in cli_actions():
        if name != cmd or action.option_strings == ["-k"]:
            continue
        first_long = next(o for o in action.option_strings if o.startswith("--"))
        assert first_long == "--" + action.dest.replace("_", "-"), (name, action.option_strings)
        assert action.dest not in BANNED, (name, action.dest)
