"""The README's Python example runs as written (against this build's package)."""
import os
import re

import fp8gemm_pkg  # noqa: F401
import torch

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_python_example(capsys):
    text = open(README, encoding="utf-8").read()
    section = text.split("\n## Python\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == str(torch.Size([4, 16, 256]))
