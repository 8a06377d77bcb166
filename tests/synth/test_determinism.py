from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vigil.synth import GeneratorConfig, generate

FILES = ("posts.parquet", "accounts.parquet", "labels.parquet", "campaigns.json")
# The second run happens in another process with another string-hash seed: nothing may depend on
# set or dict iteration order of str keys, or on anything else about the process.
SECOND_RUN = """
import sys
from vigil.synth import GeneratorConfig, generate
generate(GeneratorConfig(posts=12_000, seed=11, chunk_posts=5_000), sys.argv[1])
"""


def _bytes(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in FILES}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    generate(GeneratorConfig(posts=12_000, seed=11, chunk_posts=5_000), tmp_path / "a")
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    subprocess.run([sys.executable, "-c", SECOND_RUN, str(tmp_path / "b")], check=True, env=env, timeout=300)
    generate(GeneratorConfig(posts=12_000, seed=12, chunk_posts=5_000), tmp_path / "c")
    a, b, c = _bytes(tmp_path / "a"), _bytes(tmp_path / "b"), _bytes(tmp_path / "c")
    for name in FILES:
        assert a[name] == b[name], f"{name} differs between two runs with the same seed"
        assert a[name] != c[name], f"{name} is the same for different seeds"
