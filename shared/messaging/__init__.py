"""Messaging, transport only: the dramatiq broker, RabbitMQ, and the routes table."""
