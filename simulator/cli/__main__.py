"""`python -m simulator.cli ...`: the `carrier-sim` command without its console script."""

from simulator.cli import main

if __name__ == "__main__":  # importing this module (as tests that import every module do) runs nothing
    main()
