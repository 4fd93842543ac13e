"""Interbank stage (seed step 15): submits authorized payments to clearing under a stable
end-to-end id, never twice, and records the outcome. Nobody else may act on them."""
