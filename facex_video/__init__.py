"""FaceX Video: generalist face editing in video (FORD decomposition, FORS steering) on Ray."""

__version__ = "0.1.0"
