"""Messaging: the dramatiq broker, the stage actor, the command path every stage handler shares."""
