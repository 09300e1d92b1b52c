"""The HTTP layer: FastAPI app factory, dependencies, error rendering and middleware."""
