"""Principals (people and systems that call the API), their tokens and role bindings."""
