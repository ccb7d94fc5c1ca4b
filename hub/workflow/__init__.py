"""The work-order rules (分单, 派单, SLA clock, 督办): pure functions over canonical models.

Nothing here reads the database or the network; the services in hub.services call these
rules inside their transactions, so the API, the worker, the CLI sweeps and the Airflow
tasks all decide the same way.
"""
