"""Runs pico-auth (PyPI `pico-auth`, see requirements.txt) on loopback for portcullis's
live-issuer tests.

    live-issuers/.venv/bin/python live-issuers/pico-auth/run.py [--port PORT] [--data-dir DIR]

`python -m pico_auth.main` always listens on 0.0.0.0:8100 and reads `application.yaml` from
the working directory; this runner does what that entry point does (build the pico-ioc
container, create the tables, ensure the admin user, serve with uvicorn) but on
127.0.0.1:PORT, with a fresh configuration, database and key pair in DATA_DIR (a new
temporary directory when not given, removed at exit). The issuer is http://127.0.0.1:PORT;
PORT 0 (the default) takes any free port, named in the READY line.

Once the server accepts connections it prints one line to stdout:
    READY {"issuer": ..., "audience": ..., "jwks_uri": ..., "admin_email": ..., ...}
"""

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile

AUDIENCE = "pico-bot"  # pico-auth's default audience
ADMIN_EMAIL = "admin@pico.local"
ADMIN_PASSWORD = "admin-live-issuer"


def write_config(data_dir: str, issuer: str) -> str:
    # JSON is YAML: no quoting questions.
    config = {
        "auth": {
            "data_dir": os.path.join(data_dir, "keys"),
            "access_token_expire_minutes": 15,
            "issuer": issuer,
            "audience": AUDIENCE,
            "algorithm": "RS256",
            "auto_create_admin": True,
            "admin_email": ADMIN_EMAIL,
            "admin_password": ADMIN_PASSWORD,
            "registration_enabled": True,
        },
        "database": {
            "url": "sqlite+aiosqlite:///" + os.path.join(data_dir, "auth.db"),
            "echo": False,
        },
        # pico-auth protects its own /me, /users ... with pico-client-auth.
        "auth_client": {
            "enabled": True,
            "issuer": issuer,
            "audience": AUDIENCE,
            "accepted_algorithms": ["RS256"],
        },
        "fastapi": {"title": "pico-auth (portcullis live issuer)", "version": "0.3.0"},
    }
    path = os.path.join(data_dir, "application.yaml")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    return path


async def serve(port: int, data_dir: str) -> None:
    import socket

    import uvicorn
    from fastapi import FastAPI
    from pico_sqlalchemy import SessionManager

    from pico_auth.config import AuthSettings
    from pico_auth.main import create_container
    from pico_auth.schema import create_tables
    from pico_auth.service import AuthService

    # Bound before the configuration is written: the issuer names the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"
    config_path = write_config(data_dir, issuer)
    # pico-auth's own environment overrides (AUTH_*, DATABASE_*) would win over the file:
    # drop them so the test gets exactly this configuration.
    for name in list(os.environ):
        if name.startswith(("AUTH_", "DATABASE_", "FASTAPI_")):
            del os.environ[name]
    container = create_container(config_path)
    app = container.get(FastAPI)
    await create_tables(container.get(SessionManager))
    settings = container.get(AuthSettings)
    await container.get(AuthService).ensure_admin(settings.admin_email, settings.admin_password)

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise SystemExit("pico-auth server stopped before it started")
        await asyncio.sleep(0.02)
    info = {
        "issuer": issuer,
        "port": port,
        "audience": AUDIENCE,
        "discovery": f"{issuer}/.well-known/openid-configuration",
        "jwks_uri": f"{issuer}/api/v1/auth/jwks",
        "register": f"{issuer}/api/v1/auth/register",
        "login": f"{issuer}/api/v1/auth/login",
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
    }
    print("READY " + json.dumps(info), flush=True)
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    owned = args.data_dir is None
    data_dir = tempfile.mkdtemp(prefix="pico-auth-") if owned else args.data_dir
    os.makedirs(data_dir, exist_ok=True)
    try:
        asyncio.run(serve(args.port, data_dir))
    except KeyboardInterrupt:
        pass
    finally:
        if owned:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
