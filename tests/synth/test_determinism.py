from __future__ import annotations

from pathlib import Path

from vigil.synth import GeneratorConfig, generate

FILES = ("posts.parquet", "accounts.parquet", "labels.parquet", "campaigns.json")


def _bytes(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in FILES}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    config = GeneratorConfig(posts=12_000, seed=11, chunk_posts=5_000)
    generate(config, tmp_path / "a")
    generate(config, tmp_path / "b")
    generate(GeneratorConfig(posts=12_000, seed=12, chunk_posts=5_000), tmp_path / "c")
    a, b, c = _bytes(tmp_path / "a"), _bytes(tmp_path / "b"), _bytes(tmp_path / "c")
    for name in FILES:
        assert a[name] == b[name], f"{name} differs between two runs with the same seed"
        assert a[name] != c[name], f"{name} is the same for different seeds"
