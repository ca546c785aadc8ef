"""tamis inside the tools a data team already runs.

Each module imports its tool lazily, so ``import tamis.integrations`` needs none of them:

- :mod:`tamis.integrations.datasets`: functions taking and returning a Hugging Face
  ``datasets.Dataset`` (features kept, explanation columns added; the Arrow table underneath is
  read by tamis's reader, no Python row loop).
- :mod:`tamis.integrations.datatrove`: datatrove pipeline steps (a filter step and the MinHash
  dedup stages, split as datatrove splits its own) calling the same engine functions as the CLI.

pandas, polars and pyarrow tables need no module: every selector reads them directly, and
:meth:`tamis.Selection.take` hands the selected rows back in the same container type. The Ray
Data backend (:mod:`tamis.ray`) takes ``ray.data.Dataset`` inputs. See ``docs/integrations.md``.
"""
