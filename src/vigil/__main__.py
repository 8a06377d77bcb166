"""``python -m vigil``: the ``vigil`` command."""

from vigil.cli.app import main

if __name__ == "__main__":
    main()
