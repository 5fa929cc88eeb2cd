"""The lowest layer: values every other layer shares (constants now; DESIGN.md section 2 puts errors,
atomic writes and digests here too)."""
