"""One typed client per integration. Services know HTTP and SDKs, never the database or Flask."""
