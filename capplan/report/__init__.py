"""Output formats, one module each: table (rich), json, markdown."""
