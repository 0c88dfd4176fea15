"""`deis-db`: the developer's command line for their app's database, a Deis CLI plugin (`deis db:backups` runs
`deis-db backups`). A client of the panel's /api/v1 and, for backup contents, of the Databases API: it imports only
the standard library, requests and click, never the rest of `app`."""
