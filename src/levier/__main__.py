"""``python -m levier``: the ``levier`` command, for when the console script is not on the PATH."""

if __name__ == "__main__":
    import sys

    from levier.cli import main

    sys.exit(main())
