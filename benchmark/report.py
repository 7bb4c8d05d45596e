"""Kept so that `python -m benchmark.report` still works: the report is benchmark/results/report.py."""

if __name__ == "__main__":
    from benchmark.results.report import main

    main()
