"""One synchronizer per source: fetch everything, then upsert, relate and sweep (DESIGN.md "Sync rules")."""
