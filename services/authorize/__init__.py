"""Authorize stage (seed steps 11-14): the authorizer's decision with their one-time code;
an authorized payment goes on to interbank."""
