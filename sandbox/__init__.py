"""Local simulators of Deis Workflow, Cloudflare and AWS, seeded from scenario files.

Used by tests, `make demo` and `bench/`; the panel (`app`) never imports this package.
"""
