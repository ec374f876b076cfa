"""Wire and canonical structs. No behaviour lives here."""
