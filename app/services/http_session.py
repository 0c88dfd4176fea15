"""The `requests` session shared by HTTP clients: connection pooling and retries of what is safe to retry."""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def retrying_session(retries: int = 3, backoff: float = 0.3, pool_size: int = 10) -> requests.Session:
    """A session retrying idempotent requests on connection errors and 429/5xx, honouring Retry-After."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        backoff_max=10,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=SAFE_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
