"""Renderers: turn an AssembledFace into an edited aligned crop and its alpha (one interface, several backends)."""
