"""Makes the tests run from a source tree: the package from python/, the
library from $TIND_LIBRARY or, when unset, build/libtind.so of the tree."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
if "TIND_LIBRARY" not in os.environ:
    built = os.path.join(HERE, "..", "..", "build", "libtind.so")
    if os.path.exists(built):
        os.environ["TIND_LIBRARY"] = os.path.abspath(built)
