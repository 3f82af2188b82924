"""Self-hosted WhatsApp Business inbox server."""
