#!/usr/bin/env python3
"""Build the small sample corpus shipped in data/sample/.

Every document comes from CPython material covered by the PSF License Agreement:

  python-docs   CPython's reStructuredText documentation sources (the ``_sources``
                tree of the HTML docs; on Debian/Ubuntu: ``apt-get install python3-doc``)
  python-code   the standard library of the running Python (``Lib/``, test packages excluded)
  python-tests  the standard library's regression tests (``Lib/test/``)

Files are cut at paragraph boundaries into chunks of at most MAX_CHARS characters
(an over-long paragraph is cut at line boundaries, an over-long line at MAX_CHARS),
chunks shorter than MIN_CHARS after stripping are dropped, and files that are not
valid UTF-8 are skipped.  Selection is by a seeded SHA-256 rank of each id, so it is
deterministic and does not depend on the order in which files are found.

The ``python-docs`` files are split into two disjoint sets of whole files: the
held-out files give ``target.jsonl.gz`` (a DSIR target sample), the rest may enter
``corpus.jsonl.gz``.  No source file contributes to both.

Outputs (gzip with mtime=0 and no file name, so a rerun on the same inputs is
byte-identical):
  data/sample/corpus.jsonl.gz   one JSON object per line: id, text, domain, source
  data/sample/target.jsonl.gz   the same keys, python-docs only
  data/sample/README.md

Usage (from the repository root, standard library only):
  python3 scripts/build_sample_corpus.py [--docs DIR] [--out DIR]
"""

import argparse
import glob
import gzip
import hashlib
import io
import json
import os
import platform
import re
import sys
import sysconfig

SEED = "tamis-sample-v1"
# 5000 rather than the 8000 upper bound: with 8000-char chunks 3500 documents
# take ~6 MB gzipped (over the 5 MB budget) and the docs give too few chunks.
MAX_CHARS = 5000
MIN_CHARS = 200
N_CORPUS = 3500
MIX = {"python-docs": 0.40, "python-code": 0.40, "python-tests": 0.20}
N_TARGET = 300
SIZE_LIMIT = 5 * 1024 * 1024

DOCS_GLOBS = [
    "/usr/share/doc/python3*/html/_sources",
    "/usr/share/doc/python*/html/_sources",
    "/usr/share/doc/python3*-doc/html/_sources",
]


# ---------------------------------------------------------------- discovery


def find_docs_root(explicit=None):
    """Return the directory holding the reST sources (*.rst.txt or *.rst)."""
    if explicit:
        return os.path.realpath(explicit)
    best, best_n = None, 0
    for pattern in DOCS_GLOBS:
        for d in sorted(glob.glob(pattern)):
            real = os.path.realpath(d)
            n = len(glob.glob(os.path.join(real, "**", "*.rst*"), recursive=True))
            if n > best_n:
                best, best_n = real, n
    if best is None:
        sys.exit(
            "error: no CPython reST docs found (looked for /usr/share/doc/python3*/"
            "html/_sources). Install them (Debian/Ubuntu: apt-get install python3-doc)"
            " or pass --docs DIR."
        )
    return best


def doc_files(root):
    """Yield (relpath, abspath); relpath like 'library/os.rst'."""
    out = []
    for p in glob.glob(os.path.join(root, "**", "*"), recursive=True):
        if not os.path.isfile(p):
            continue
        rel = os.path.relpath(p, root).replace(os.sep, "/")
        if rel.endswith(".rst.txt"):
            rel = rel[: -len(".txt")]
        elif not rel.endswith(".rst"):
            continue
        out.append((rel, p))
    return sorted(out)


TEST_DIRS = {"test", "tests", "idle_test"}


def code_files(stdlib):
    """Return (code, tests): lists of (relpath, abspath) relative to the stdlib dir."""
    code, tests = [], []
    for p in glob.glob(os.path.join(stdlib, "**", "*.py"), recursive=True):
        rel = os.path.relpath(p, stdlib).replace(os.sep, "/")
        parts = rel.split("/")
        if "site-packages" in parts or "dist-packages" in parts or not os.path.isfile(p):
            continue
        if parts[0] == "test":
            tests.append((rel, p))
        elif TEST_DIRS.isdisjoint(parts[:-1]):
            code.append((rel, p))
    return sorted(code), sorted(tests)


# ---------------------------------------------------------------- chunking


def _split_long(par, max_chars):
    """Cut one over-long paragraph at line boundaries (hard cut for huge lines)."""
    pieces, buf, size = [], [], 0
    for line in par.split("\n"):
        while len(line) > max_chars:
            if buf:
                pieces.append("\n".join(buf))
                buf, size = [], 0
            pieces.append(line[:max_chars])
            line = line[max_chars:]
        if buf and size + 1 + len(line) > max_chars:
            pieces.append("\n".join(buf))
            buf, size = [], 0
        size += len(line) + (1 if buf else 0)
        buf.append(line)
    if buf:
        pieces.append("\n".join(buf))
    return pieces


def chunks(text, max_chars=MAX_CHARS):
    """Greedy packing of blank-line-separated paragraphs into chunks <= max_chars."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paras = []
    for p in re.split(r"\n[ \t]*\n", text):
        if not p.strip():
            continue
        paras.extend(_split_long(p, max_chars) if len(p) > max_chars else [p])
    buf, size = [], 0
    for p in paras:
        if buf and size + 2 + len(p) > max_chars:
            yield "\n\n".join(buf)
            buf, size = [], 0
        size += len(p) + (2 if buf else 0)
        buf.append(p)
    if buf:
        yield "\n\n".join(buf)


def read_utf8(path):
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def documents(domain, prefix, files, skipped):
    """Return {relpath: [doc, ...]} for the given files."""
    by_file = {}
    for rel, path in files:
        text = read_utf8(path)
        if text is None or "\x00" in text:
            skipped.append(f"{prefix}/{rel}")
            continue
        docs = []
        for j, c in enumerate(chunks(text)):
            c = c.strip()
            if len(c) < MIN_CHARS:
                continue
            docs.append(
                {
                    "id": f"{domain}/{rel}#{j}",
                    "text": c,
                    "domain": domain,
                    "source": f"{prefix}/{rel}",
                }
            )
        if docs:
            by_file[rel] = docs
    return by_file


# ---------------------------------------------------------------- sampling


def rank(key):
    return hashlib.sha256(f"{SEED}\0{key}".encode()).hexdigest()


def pick(docs, n):
    """The n docs with the smallest seeded hash, returned sorted by id."""
    return sorted(sorted(docs, key=lambda d: rank(d["id"]))[:n], key=lambda d: d["id"])


def split_target(by_file, n_target):
    """Hold out whole doc files (in seeded order) until they give >= n_target chunks."""
    held, n = set(), 0
    for rel in sorted(by_file, key=rank):
        if n >= n_target:
            break
        held.add(rel)
        n += len(by_file[rel])
    target = [d for rel in held for d in by_file[rel]]
    rest = [d for rel in by_file if rel not in held for d in by_file[rel]]
    return pick(target, n_target), rest


# ---------------------------------------------------------------- output


def write_jsonl_gz(path, docs):
    raw = io.BytesIO()
    for d in docs:
        line = json.dumps(
            {k: d[k] for k in ("id", "text", "domain", "source")},
            ensure_ascii=False,
            sort_keys=False,
        )
        raw.write(line.encode("utf-8") + b"\n")
    # filename="" and mtime=0 keep the gzip header free of varying fields
    with (
        open(path, "wb") as f,
        gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as gz,
    ):
        gz.write(raw.getvalue())
    return len(raw.getvalue())


def stats(docs):
    out = {}
    for d in docs:
        s = out.setdefault(d["domain"], [0, 0, set()])
        s[0] += 1
        s[1] += len(d["text"])
        s[2].add(d["source"])
    return {k: (v[0], v[1], len(v[2])) for k, v in sorted(out.items())}


def docs_version(root):
    """Best-effort CPython docs version (from the Sphinx build in the parent dir)."""
    for name in ("_static/documentation_options.js", "index.html"):
        p = os.path.join(os.path.dirname(root), name)
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                m = re.search(
                    r"VERSION:\s*'([^']+)'|Python ([0-9][0-9.]+\w*) documentation", f.read()
                )
            if m:
                return m.group(1) or m.group(2)
        except OSError:
            pass
    return "unknown"


README = """\
# Sample corpus

A small, real text corpus for tests, examples and quick benchmarks of `tamis`.
Every document is a piece of CPython: its reStructuredText documentation sources,
its standard library and its regression tests. Nothing in it was written for
this project.

## Files

| file | documents | characters | gzip size | uncompressed JSONL |
|---|---:|---:|---:|---:|
{file_rows}

Each line of the `.jsonl.gz` files is a JSON object with the keys:

- `id`: unique string, `<domain>/<path>#<chunk>`, e.g. `python-docs/library/os.rst#0`
- `text`: the document (UTF-8, non-empty, at most {max_chars} characters)
- `domain`: `python-docs`, `python-code` or `python-tests`
- `source`: path of the file it came from, as in the CPython source tree
  (`Doc/library/os.rst`, `Lib/os.py`, `Lib/test/test_os.py`)

`corpus.jsonl.gz` is the selection pool. `target.jsonl.gz` holds {n_target}
`python-docs` documents to use as a target sample (e.g. for DSIR); they come from
documentation files that contribute nothing to `corpus.jsonl.gz`.

### Documents per domain

| domain | corpus docs | corpus chars | source files | target docs |
|---|---:|---:|---:|---:|
{domain_rows}

## How it was built

```
python3 scripts/build_sample_corpus.py
```

run from the repository root (standard library only). Inputs on the build machine:

- documentation: `{docs_root}` (CPython {docs_ver} docs; Debian package `python3-doc`)
- standard library: the running Python's `sysconfig.get_paths()["stdlib"]` (CPython {py_ver})

Each source file is cut at blank-line paragraph boundaries into chunks of at most
{max_chars} characters (an over-long paragraph at line boundaries); chunks shorter
than {min_chars} characters are dropped, as are files that are not valid UTF-8
({n_skipped} files). Documentation files are first split, whole files at a time,
into held-out target files and pool files. From the pool, documents are chosen by
the SHA-256 of `"{seed}\\0" + id`, aiming at {mix} of {n_corpus} documents, and
every output is sorted by `id`. The outputs are gzip files with mtime 0, so
rerunning the script on the same inputs gives byte-identical files; other CPython
or docs versions give a similar but not identical corpus.

## Licence

The texts are CPython documentation and source code, Copyright (c) 2001-2023
Python Software Foundation; All Rights Reserved. They are distributed under the
PSF License Agreement for Python (the documentation and code of CPython 3.11;
see https://docs.python.org/3/license.html). The example code in the
documentation is, in addition, available under the Zero-Clause BSD licence, as
that page explains. This licence applies to the data in this directory only, not
to the rest of the repository.
"""


def human(n):
    return f"{n / 1024 / 1024:.2f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", help="directory of the reST doc sources (_sources)")
    ap.add_argument("--out", default=os.path.join("data", "sample"))
    args = ap.parse_args()

    docs_root = find_docs_root(args.docs)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    code, tests = code_files(stdlib)
    if not tests:
        sys.exit(f"error: no Lib/test under {stdlib}; this Python was installed without tests")

    skipped = []
    by_file = documents("python-docs", "Doc", doc_files(docs_root), skipped)
    pool = {
        "python-code": [
            d for v in documents("python-code", "Lib", code, skipped).values() for d in v
        ],
        "python-tests": [
            d for v in documents("python-tests", "Lib", tests, skipped).values() for d in v
        ],
    }
    target, pool["python-docs"] = split_target(by_file, N_TARGET)

    corpus = []
    for domain, frac in MIX.items():
        n = round(N_CORPUS * frac)
        if len(pool[domain]) < n:
            print(f"warning: only {len(pool[domain])} {domain} documents for {n}", file=sys.stderr)
        corpus += pick(pool[domain], n)
    corpus.sort(key=lambda d: d["id"])

    ids = [d["id"] for d in corpus + target]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert not {d["source"] for d in corpus} & {d["source"] for d in target}

    os.makedirs(args.out, exist_ok=True)
    files = {}
    for name, docs in (("corpus.jsonl.gz", corpus), ("target.jsonl.gz", target)):
        path = os.path.join(args.out, name)
        raw = write_jsonl_gz(path, docs)
        files[name] = (len(docs), sum(len(d["text"]) for d in docs), os.path.getsize(path), raw)

    cs, ts = stats(corpus), stats(target)
    domain_rows = "\n".join(
        f"| {dom} | {cs.get(dom, (0, 0, 0))[0]} | {cs.get(dom, (0, 0, 0))[1]:,} "
        f"| {cs.get(dom, (0, 0, 0))[2] + ts.get(dom, (0, 0, 0))[2]} "
        f"| {ts.get(dom, (0, 0, 0))[0]} |"
        for dom in MIX
    )
    file_rows = "\n".join(
        f"| `{name}` | {n} | {c:,} | {human(gz)} | {human(raw)} |"
        for name, (n, c, gz, raw) in files.items()
    )
    docs_display = docs_root
    readme = README.format(
        file_rows=file_rows,
        domain_rows=domain_rows,
        max_chars=MAX_CHARS,
        min_chars=MIN_CHARS,
        n_target=len(target),
        docs_root=docs_display,
        docs_ver=docs_version(docs_root),
        py_ver=platform.python_version(),
        n_skipped=len(skipped),
        seed=SEED,
        mix=" / ".join(f"{int(f * 100)}% {d}" for d, f in MIX.items()),
        n_corpus=N_CORPUS,
    )
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write(readme)

    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    report = {
        "corpus": {d: v[0] for d, v in cs.items()},
        "target": len(target),
        "skipped_non_utf8": skipped,
        "bytes_on_disk": total,
    }
    print(json.dumps(report, indent=1))
    if total > SIZE_LIMIT:
        sys.exit(f"error: {args.out} is {total} bytes, over the {SIZE_LIMIT} byte budget")


if __name__ == "__main__":
    main()
