"""`python -m dbapi [--host H] [--port P]`: run the Databases API with werkzeug's server, for development."""
from __future__ import annotations

import argparse

from dbapi import create_app


def main(argv: list[str] | None = None) -> None:
    """Serve the API until interrupted (production uses gunicorn dbapi.wsgi:app)."""
    parser = argparse.ArgumentParser(prog="python -m dbapi", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    args = parser.parse_args(argv)
    create_app().run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
