"""Nova access: data model and errors (always cheap), client (lazy heavy imports)."""
