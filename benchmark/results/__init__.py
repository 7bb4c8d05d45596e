"""What turns cells into knowledge: the record (records.py), MLflow tracking (tracking.py,
sync.py, server.py) and the report (report.py, plots.py). Nothing here imports the sweep or the
worker; the sweep imports this."""
