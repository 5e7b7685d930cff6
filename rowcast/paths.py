"""Locations of the SQL scripts and server settings shipped with the project."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"
SCHEMA_FILE = SQL_DIR / "schema.sql"
SEED_FILE = SQL_DIR / "seed.sql"
GRANTS_FILE = SQL_DIR / "grants.sql"
MYSQL_CONF_FILE = PROJECT_ROOT / "mysql-conf" / "rowcast.cnf"
