"""Django's SQLite backend, with the database file kept private (see ``base``)."""
