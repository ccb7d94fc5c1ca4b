"""Airflow DAG `jk_sweep_route_dispatch`: the every-minute route and dispatch safety net."""

from hub.airflow.dag_factory import route_dispatch_dag

dag = route_dispatch_dag()
