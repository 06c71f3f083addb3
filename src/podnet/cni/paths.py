"""Where podnet's CNI plugin executables live (the CNI_PATH to give a runtime).

The console scripts ``podnet-bridge`` and ``podnet-host-local`` are installed
next to the Python interpreter that runs podnet (``sys.executable``'s
directory, e.g. a virtualenv's ``bin``). That directory is preferred over a
``PATH`` lookup because wrappers on PATH (pyenv shims, for one) add a second
process to every plugin call.
"""

from __future__ import annotations

import os
import shutil
import sys

PLUGINS = ("podnet-bridge", "podnet-host-local")


def cni_path() -> str:
    """The directory holding the podnet-bridge / podnet-host-local executables."""
    here = os.path.dirname(os.path.realpath(sys.executable))
    candidates = [os.path.dirname(sys.executable), here]
    found = shutil.which(PLUGINS[0])
    if found:
        candidates.append(os.path.dirname(found))
    for directory in candidates:
        if all(os.access(os.path.join(directory, p), os.X_OK) for p in PLUGINS):
            return directory
    raise FileNotFoundError(
        "podnet-bridge/podnet-host-local are not installed; run `pip install -e .`")
