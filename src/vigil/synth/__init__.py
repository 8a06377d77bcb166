"""Labelled synthetic election data: an organic multi-platform population plus planted campaigns.

``generate(GeneratorConfig(posts=..., seed=...), out_dir)`` writes posts, accounts, labels and
campaigns.json; see docs/generator.md for the model.
"""

from vigil.synth.config import DIFFICULTIES, PLATFORMS, STYLE_NAMES, Difficulty, GeneratorConfig
from vigil.synth.generator import GenerationSummary, generate

__all__ = [
    "DIFFICULTIES",
    "PLATFORMS",
    "STYLE_NAMES",
    "Difficulty",
    "GenerationSummary",
    "GeneratorConfig",
    "generate",
]
