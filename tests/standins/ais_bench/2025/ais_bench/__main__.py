"""`python3 -m ais_bench`: runs the stand-in of this release (argparse prog: __main__.py)."""
import sys

from standin_ais import main

sys.exit(main(sys.argv[1:], "2025"))
