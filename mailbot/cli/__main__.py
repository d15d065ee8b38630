"""``python -m mailbot.cli``: the same as the ``mailbot`` command."""

from mailbot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
