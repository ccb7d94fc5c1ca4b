"""Hub functions shared by the API, the CLI, the worker and the Airflow tasks (one code path)."""
