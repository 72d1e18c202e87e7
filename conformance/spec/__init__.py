"""What the guide says, as code: signing, schemas, generation, JSON text, call lifecycles."""
