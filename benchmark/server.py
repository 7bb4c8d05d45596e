"""Kept so that `python -m benchmark.server` still works: the MLflow server is benchmark/results/server.py."""

if __name__ == "__main__":
    from benchmark.results.server import main

    main()
