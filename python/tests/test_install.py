"""`pip install ./python` into a fresh virtual environment works offline and
gives an importable package (the venv sees the system's cffi, as on Debian
with python3-cffi; --no-index: nothing is downloaded)."""

import os
import shutil
import subprocess
import sys

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def test_pip_install_in_a_venv(tmp_path):
    try:
        import ensurepip  # noqa: F401  (python3-venv on Debian)
        import wheel  # noqa: F401  (python3-wheel: setuptools builds the wheel with it)
    except ImportError as e:
        pytest.skip("%s: install python3-venv and python3-wheel (scripts/deps.sh test)" % e)
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info",
                                                                "__pycache__", "libtind.so*"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation",
                    str(src)], check=True, timeout=300)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)              # the installed copy, not the source tree
    out = subprocess.run([py, "-c", "import tind; print(tind.__file__); print(tind.version())"],
                         check=True, capture_output=True, text=True, cwd=str(tmp_path), env=env)
    where, version = out.stdout.split()
    assert where.startswith(str(venv)) and version.count(".") == 2
