"""The contract as a minimal Django project (no database, no templates)."""
