"""``b2bpay serve``: the HTTP API (FastAPI). Each route parses its input, calls one function of
:mod:`shared.app.client` and renders its answer; refusals are problem details
(:mod:`services.api.problems`)."""
