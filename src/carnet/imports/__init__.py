"""Imports of CSV/XLSX files into any record type registered in `core.importing`."""
