"""Built-in rules for NumPy."""
