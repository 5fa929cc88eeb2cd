"""Faces: detection, 478-point landmarks, tracks across frames and shots, canonical alignment."""
