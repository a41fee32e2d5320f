"""Live sources: the control plane's PostgreSQL and the platform's NATS JetStream."""
