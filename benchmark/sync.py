"""Kept so that `python -m benchmark.sync` still works: the upload of records to MLflow is benchmark/results/sync.py."""

if __name__ == "__main__":
    from benchmark.results.sync import main

    main()
