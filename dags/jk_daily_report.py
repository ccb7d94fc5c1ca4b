"""Airflow DAG `jk_daily_report`: the daily report, built by hub.services.reports."""

from hub.airflow.dag_factory import daily_report_dag

dag = daily_report_dag()
