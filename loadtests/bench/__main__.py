"""`python -m loadtests.bench`, from the repository root: see `loadtests.bench` and `cli`.

Only the command itself imports the scenarios: generator processes (spawned, so they import
this module again, as `__mp_main__`) load just the role they run."""

import sys

if __name__ == "__main__":
    from .cli import main

    sys.exit(main())
