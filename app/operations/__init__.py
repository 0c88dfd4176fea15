"""Actions that change the platform or the panel, each audited: they take a session (and clients) as arguments."""
