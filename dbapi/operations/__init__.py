"""What the Databases API does: each module owns one kind of work, its request-time checks and its RQ job."""
