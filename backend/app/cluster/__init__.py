"""A process in a cluster: which role it plays, who leads ingest, and the parts that run
only on the leader."""
