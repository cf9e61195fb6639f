"""Outgoing webhooks: endpoints configured by admins, REST hooks (Zapier, Make), signed deliveries
following the Standard Webhooks specification, retried with backoff and logged per attempt."""
