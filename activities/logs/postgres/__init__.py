"""The log archive in PostgreSQL, shared by every replica (OTTOSCALER_DATABASE_URL)."""
