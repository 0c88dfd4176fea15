"""Multi-step actions and the domain logic behind pages: each module takes a session (and clients) as arguments."""
