"""Run a module or script as ``__main__`` and print its peak RSS (VmHWM, MB) to stderr at exit.

``python benches/_peak.py tamis dedup ...`` or ``python benches/_peak.py script.py args``. The
parent's ``wait4`` rusage cannot be used: a child forked from a large benchmark process inherits
its resident pages until ``exec``, and ``ru_maxrss`` counts them. This wrapper imports nothing
heavy, so the peak it prints is the command's.
"""

import atexit
import runpy
import sys


def _peak() -> None:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print(f"PEAK_RSS_MB {int(line.split()[1]) / 1024:.1f}", file=sys.stderr)


if __name__ == "__main__":
    atexit.register(_peak)
    target, sys.argv = sys.argv[1], sys.argv[1:]
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
