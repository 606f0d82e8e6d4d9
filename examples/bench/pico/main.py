"""The tutorial's Protected API on pico-client-auth 0.7.1 (FastAPI), for `loadbench`.

Usage: python main.py PORT CONFIG_DIR  (CONFIG_DIR holds the application.yaml to use)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastapi import FastAPI  # noqa: E402
from pico_boot import init  # noqa: E402
from pico_ioc import YamlTreeSource, configuration  # noqa: E402


def create_app(config_dir: str) -> FastAPI:
    config = configuration(YamlTreeSource(os.path.join(config_dir, "application.yaml")))
    container = init(modules=["services", "controllers"], config=config)
    return container.get(FastAPI)


if __name__ == "__main__":
    import uvicorn

    app = create_app(sys.argv[2])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
