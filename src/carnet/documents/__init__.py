"""What quotes and invoices share: lines and totals, payment terms, legal mentions, PDF rendering."""
