"""The edit layer: one task on one stream, in process and without Ray: what a task run is (EditSpec), the
stage loops over frames, and one face of one frame edited. An image runs here directly; the video layer
schedules the same functions as shards."""
