"""Compose: blending and colour matching of edited crops into the frames they came from (DESIGN.md section 2)."""
