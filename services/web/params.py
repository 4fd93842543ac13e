"""The request parameters every screen takes, declared once: a payment id in the path, the pay
link's capability in the query, and a form field (bounded, so no form grows without limit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query

PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Cap = Annotated[str | None, Query(max_length=64)]
Field = Annotated[str | None, Form(max_length=1024)]
