"""A shared MLflow tracking server for sweeps whose cells run on several hosts or side by side:
`make server`, or `python -m benchmark.results.server [--host H] [--port P] [--backend-store-uri URI]`.

Cells log to it over HTTP (`tracking_uri=http://<host>:<port>`), and the server alone writes the
backend store: a sqlite file next to it by default, or PostgreSQL when given a
postgresql:// URI. A sqlite file shared over a network filesystem is no store for a cluster:
its locks are not reliable there, and several hosts writing it corrupt it. Artifacts (each
cell's record.json, the report) are uploaded through the server (--serve-artifacts) into
--artifacts-destination, so the hosts need no shared folder either.

`--auth` serves MLflow's own basic-auth app: every request needs a user and password (an
unauthenticated client can neither read nor write). The admin's password comes from the
environment (MLFLOW_AUTH_ADMIN_PASSWORD, MLflow's own variable), never from the command line;
cells authenticate with MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD in their
environment, which MLflow's client reads and nothing here records. Serving beyond loopback
without --auth is refused unless --no-auth says so: whoever reaches the port could overwrite
or delete every run."""

from __future__ import annotations

import argparse
import os
import secrets
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
    auth: bool = False  # MLflow's basic-auth app: users and passwords (admin's from the environment)
    auth_db: str = str(Path("mlflow-auth.db").resolve())  # the auth app's users and permissions

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
        if self.auth:
            command += ["--app-name", "basic-auth"]
        return command

    def environment(self, folder: Path) -> dict[str, str]:
        """The server's environment: with --auth, the auth app's config file (written into
        `folder`, no secret in it) and a session key; the admin password stays in the env."""
        env = dict(os.environ)
        if not self.auth:
            return env
        ini = folder / "mlflow-auth.ini"
        ini.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{self.auth_db}\n"
            "admin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
        env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_hex(16))
        return env


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
    parser.add_argument("--auth", action="store_true",
                        help="MLflow's basic-auth app; admin password from $MLFLOW_AUTH_ADMIN_PASSWORD")  # fmt: skip
    parser.add_argument(
        "--no-auth", action="store_true", help="serve beyond loopback without --auth (anyone can write)"
    )
    args = parser.parse_args(argv)
    if args.auth and len(os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD", "")) < 12:  # MLflow's own minimum
        parser.error(
            "--auth needs the admin's password, 12 characters or more, in the environment: "
            "export MLFLOW_AUTH_ADMIN_PASSWORD=..."
        )
    if args.host not in ("127.0.0.1", "localhost", "::1") and not (args.auth or args.no_auth):
        parser.error(
            f"--host {args.host} serves every host that reaches the port, who could overwrite or delete every "
            "run: add --auth (users and passwords), or --no-auth if that is what you want"
        )
    del args.no_auth
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
    if config.auth:
        print(
            "  with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD exported (users: admin,", flush=True
        )
        print(
            "  or those the admin creates: mlflow.server.get_app_client('basic-auth', ...).create_user)",
            flush=True,
        )
    os.execve(config.command()[0], config.command(), config.environment(Path.cwd()))


if __name__ == "__main__":
    main()
