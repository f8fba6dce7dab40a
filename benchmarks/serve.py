"""``python -m benchmarks.serve``: the baseline app under the service's own uvicorn settings
(``LOAN_OFFERS_*`` environment, :func:`config.serving.serve`: per-worker sockets included)."""

from __future__ import annotations

from config.serving import serve, uvicorn_options
from config.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve("benchmarks.baseline_app:create_app", uvicorn_options(settings), settings.reuse_port)
