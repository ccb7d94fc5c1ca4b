"""Airflow DAGs generated from connectors/*.yaml: one `jk_connector_<name>` DAG per file.

A pull task per stream and a feedback poll for a connector with a `status` operation; a
broken file shows as its own failing DAG (see hub/airflow/dag_factory.py).
"""

from hub.airflow.dag_factory import connector_dags

globals().update(connector_dags())
