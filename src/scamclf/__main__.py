"""``python -m scamclf``: the same as the ``scamclf`` console script."""

from .cli import main

if __name__ == "__main__":
    main()
