"""The application layer: the application clients, the command path every stage handler
shares, the guard, the deadline rule, the actor glue, people's access and the pay link; and
:class:`~shared.app.deps.Deps`, what a process's handlers are given."""
