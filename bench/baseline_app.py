"""Baseline for bench/intake.py: validates the same body as the hub and writes nothing."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from hub.model.work_order import WorkOrderSubmission

app = FastAPI()


@app.post("/validate", status_code=201)
def validate(submission: WorkOrderSubmission) -> dict[str, Any]:
    return {"status": "received", "title": submission.title}
