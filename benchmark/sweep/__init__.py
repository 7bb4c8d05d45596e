"""The parent process: `python -m benchmark` composes each cell (cell.py), checks it before any
work, then runs it as a Hydra job (job.py) in a place of its own (placement.py), starting the
worker (benchmark.worker) as a child process and recording its outcome; resume.py, progress.py,
summary.py and end.py are what a sweep shows and skips. It never imports the worker's code:
the two speak through the job folder's files."""
