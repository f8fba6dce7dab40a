"""``python -m benchmarks.serve``: the baseline app under the service's own uvicorn settings
(``LOAN_OFFERS_*`` environment, :func:`config.serving.uvicorn_options`)."""

from __future__ import annotations

import uvicorn

from config.serving import uvicorn_options
from config.settings import Settings

if __name__ == "__main__":
    uvicorn.run("benchmarks.baseline_app:create_app", factory=True,
                **uvicorn_options(Settings()))
