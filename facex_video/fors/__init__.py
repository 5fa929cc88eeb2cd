"""FORS: Facial Omni-Representation Steering — which component comes from which input, and the assembly."""
