"""`python -m bitcli` runs the `bit` command line."""

from bitcli.cli import main

if __name__ == "__main__":
    main()
