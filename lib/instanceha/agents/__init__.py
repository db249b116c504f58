"""OCF agents: one module each, holding the agent's declaration and handlers."""
