"""Representation rows streamed to Parquet, with each track's identity filled in once the track is known.

Rows are written as frames are analysed (memory holds one row group), into a hidden temporary file with
placeholder identity columns. `close` makes a second pass over the row groups: rows of tracks the tracker
dropped (too short) are removed, track ids become the final ones, and every row gets its track's identity;
the result is renamed into place only when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.atomic import atomic_path, naming_full_disk, partial_path
from .representation import FacialRepresentation, Identity, arrow_schema, to_table

ROW_GROUP = 256


class RepresentationWriter:
    """`add` rows as they come; `close(identities, final_id)` writes the finished file atomically."""

    def __init__(self, path: str | Path, embedding_dim: int):
        self.path = Path(path)
        self.schema = arrow_schema(embedding_dim)
        self._tmp = partial_path(self.path.with_suffix(".rows.parquet"))
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        self._pending: list[FacialRepresentation] = []
        self.rows = 0  # rows in the finished file (after `close`): tracks the tracker dropped are not counted

    def add(self, rep: FacialRepresentation) -> None:
        self._pending.append(rep)
        if len(self._pending) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = to_table(self._pending, self.schema.field("identity_embedding").type.list_size)
            with naming_full_disk(self.path):
                self._writer.write_table(table)
            self._pending = []

    def close(self, identities: dict[int, Identity], final_id: Callable[[int], int | None]) -> int:
        """Finish the file; returns the number of rows written. identities: by provisional track id."""
        try:
            self._flush()
            with naming_full_disk(self.path):
                self._writer.close()
            self.rows = self._rewrite(identities, final_id)
            return self.rows
        finally:
            self._tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        try:
            self._writer.close()
        except OSError:
            pass  # the disk filled: the temporary is deleted all the same
        finally:
            self._tmp.unlink(missing_ok=True)

    def _rewrite(self, identities: dict[int, Identity], final_id: Callable[[int], int | None]) -> int:
        written = 0
        source = pq.ParquetFile(self._tmp)
        with atomic_path(self.path) as tmp, pq.ParquetWriter(tmp, self.schema, compression="zstd") as out:
            for g in range(source.num_row_groups):
                table = source.read_row_group(g)
                provisional = table.column("track_id").to_numpy()
                final = np.array([_or_minus_one(final_id(int(p))) for p in provisional])
                keep = final >= 0
                table = table.filter(pa.array(keep))
                provisional, final = provisional[keep], final[keep]
                if not len(final):
                    continue
                idx = table.schema.get_field_index
                table = table.set_column(idx("track_id"), self.schema.field("track_id"),
                                         pa.array(final.astype(np.int32)))
                embeddings = [identities[int(p)].embedding.tolist() for p in provisional]
                shapes = [identities[int(p)].neutral_shape.tolist() for p in provisional]
                table = table.set_column(idx("identity_embedding"), self.schema.field("identity_embedding"),
                                         pa.array(embeddings, self.schema.field("identity_embedding").type))
                table = table.set_column(idx("neutral_shape"), self.schema.field("neutral_shape"),
                                         pa.array(shapes, self.schema.field("neutral_shape").type))
                out.write_table(table)
                written += table.num_rows
            if written == 0:
                out.write_table(self.schema.empty_table())
        return written


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value
