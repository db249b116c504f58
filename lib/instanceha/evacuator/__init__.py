"""The evacuator: NovaEvacuate's supervised worker that turns durable requests into evacuations."""
