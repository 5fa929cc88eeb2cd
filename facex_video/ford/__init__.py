"""FORD: Facial Omni-Representation Decomposing — identity, intra-personal variation, environment."""
