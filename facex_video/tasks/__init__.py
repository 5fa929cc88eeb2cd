"""Tasks: the table of task records, assembly of a face from components of several inputs, and the
expression fields that edit blendshapes."""
