"""The organisation tree: province > city > county > township > department."""
