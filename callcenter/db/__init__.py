"""SQL adapter: SQLModel tables, engine, migrations and repositories (SQLite and PostgreSQL)."""
