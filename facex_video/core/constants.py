"""Numbers fixed by the models the project is built on, in one place."""

CROP_SIZE = 512  # side of the aligned face crop every FORD mask, renderer and paste-back works in (px)
NUM_LANDMARKS = 478  # MediaPipe FaceLandmarker: 468 mesh points and 5 per iris
NUM_BLENDSHAPES = 52  # MediaPipe FaceLandmarker's blendshape scores (ARKit names)
