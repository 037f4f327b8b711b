"""`python3 -m ais_bench`: like the real package, run the infer entry point."""
import sys

from ais_bench.infer.benchmark import main

sys.exit(main(sys.argv[1:]))
