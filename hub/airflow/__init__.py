"""Airflow integration: DAGs generated from the connector configs, and the system DAGs.

The DAG files in ``dags/`` stay thin and call :mod:`hub.airflow.dag_factory`. Parsing does no
network or database work: configs and policies are read from files only, and every task calls
the same hub functions as the CLI and the worker (:mod:`hub.airflow.tasks`).
"""
