"""`pip install .` into a fresh virtualenv builds the package with its PyPI build backend
(scikit-build-core, fetched by pip) and the installed copy imports and runs."""
import os
import subprocess
import sys
import venv

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_pip_install_into_fresh_venv(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REPO],
                   check=True, timeout=1200)
    code = ("import array, fp8gemm; out = bytearray(2);"
            "fp8gemm.fp8_cast(array.array('f', [448.0, 1000.0]), 'e4m3fn', True, out=(out, 'e4m3fn'));"
            "print(fp8gemm.__file__, list(out))")
    res = subprocess.run([py, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    path, codes = res.stdout.split(" ", 1)
    assert path.startswith(str(env_dir)) and codes.strip() == "[126, 126]"
