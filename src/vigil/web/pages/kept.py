"""What a refused form had typed, so its page can show it again with the error.

The older dashboard forms post natively (a 303 redirect on success). When the input is refused,
the handler renders the form's page again with status 400, the form filled with ``values`` and
``message`` above it, instead of an error page that loses what was typed. The workbench forms do
the same in the browser (``data-keep`` in vigil.js); these work without JavaScript too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kept:
    """``form`` names which form on the page was refused; empty when none was."""

    form: str = ""
    values: dict[str, str] = field(default_factory=dict)
    message: str = ""

    def get(self, form: str, name: str, default: str = "") -> str:
        """The typed value of ``name`` if ``form`` is the refused one, else ``default``."""
        return self.values.get(name, default) if form == self.form else default
