"""The read side: what a page, an endpoint or a CLI listing shows. Queries take a session and never write."""
