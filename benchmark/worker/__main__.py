"""`python -m benchmark.worker <job_dir>`: the child process the sweep's job starts."""

import sys
from pathlib import Path

from benchmark.worker.run import main

sys.exit(main(Path(sys.argv[1])))
