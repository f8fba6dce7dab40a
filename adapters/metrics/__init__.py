"""Metrics adapters: business, cache and database-pool metrics in Prometheus form."""
