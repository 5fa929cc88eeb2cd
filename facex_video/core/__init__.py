"""The lowest layer: what every other layer shares: constants, errors that name the file or flag, atomic
writes, outputs that never destroy inputs, option ranges and content digests."""
