"""A shared MLflow tracking server for sweeps whose cells run on several hosts or side by side:
`make server`, or `python -m benchmark.server [--host H] [--port P] [--backend-store-uri URI]`.

Cells log to it over HTTP (`tracking_uri=http://<host>:<port>`), and the server alone writes the
backend store: a sqlite file next to it by default, or PostgreSQL when given a
postgresql:// URI. A sqlite file shared over a network filesystem is no store for a cluster:
its locks are not reliable there, and several hosts writing it corrupt it. Artifacts (each
cell's record.json, the report) are uploaded through the server (--serve-artifacts) into
--artifacts-destination, so the hosts need no shared folder either."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"  # 0.0.0.0 to serve other hosts (then set --allowed-hosts too)
    port: int = 5000
    backend_store_uri: str = f"sqlite:///{Path('mlflow-server.db').resolve()}"
    artifacts_destination: str = str(Path("mlartifacts").resolve())
    workers: int = 4
    allowed_hosts: str | None = None  # Host headers other hosts use to reach it, e.g. "gpu-head:5000"

    @property
    def uri(self) -> str:
        return f"http://{'127.0.0.1' if self.host == '0.0.0.0' else self.host}:{self.port}"

    def command(self) -> list[str]:
        mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
        command = [
            mlflow, "server",
            "--host", self.host,
            "--port", str(self.port),
            "--workers", str(self.workers),
            "--backend-store-uri", self.backend_store_uri,
            "--serve-artifacts",
            "--artifacts-destination", self.artifacts_destination,
        ]  # fmt: skip
        if self.allowed_hosts:
            command += ["--allowed-hosts", self.allowed_hosts]
        return command


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--backend-store-uri", default=defaults.backend_store_uri,
                        help="sqlite:///<file> (default) or postgresql://user:pass@host/db")  # fmt: skip
    parser.add_argument("--artifacts-destination", default=defaults.artifacts_destination)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--allowed-hosts", default=None)
    args = parser.parse_args(argv)
    if args.backend_store_uri.startswith("postgresql"):
        try:
            import psycopg2  # noqa: F401  # MLflow's SQLAlchemy store needs a PostgreSQL driver
        except ImportError:
            parser.error("a postgresql:// store needs its driver: pip install psycopg2-binary")
    return ServerConfig(**vars(args))


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    print(f"MLflow tracking server: {config.uri}  (store {config.backend_store_uri})")
    print(f"Sweeps log to it with: python -m benchmark -m ... tracking_uri={config.uri}", flush=True)
    os.execv(config.command()[0], config.command())


if __name__ == "__main__":
    main()
