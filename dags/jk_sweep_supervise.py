"""Airflow DAG `jk_sweep_supervise`: supervision (督办) every five minutes."""

from hub.airflow.dag_factory import supervise_dag

dag = supervise_dag()
