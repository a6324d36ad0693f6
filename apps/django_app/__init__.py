"""The contract as a minimal Django project, and the test types with its ORM and templates."""
