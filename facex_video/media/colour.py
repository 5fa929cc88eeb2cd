"""A video stream's colour description: read from the input, used for every YUV <-> RGB conversion, written
to the output, so a Rec. 709 plate comes back Rec. 709 in its tags and in its values.

Values are FFmpeg's AVCOL_* numbers, as streams and frames carry them. A stream that leaves a field
unspecified gets what players assume: Rec. 709 for HD (wider than 1024 or taller than 576 lines), Rec. 601
(SMPTE 170M) for SD, limited range. Converting with the wrong matrix shifts colours visibly (measured on a
colour chart: up to 29 levels of 255 with 601 for 709, 14 with full range for limited).
"""

from __future__ import annotations

from dataclasses import dataclass

UNSPECIFIED = 2  # AVCOL_PRI/TRC/SPC_UNSPECIFIED
RGB = 0  # AVCOL_SPC_RGB: the stream codes RGB (gbrp and the like), no matrix
BT709 = 1  # AVCOL_PRI/TRC/SPC_BT709
SMPTE170M = 6  # AVCOL_PRI/TRC/SPC_SMPTE170M (Rec. 601, 525 lines; the usual SD tag)
LIMITED, FULL = 1, 2  # AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG
# AVCOL_SPC -> libswscale's name for the matrix (PyAV's reformat takes these)
_SWS_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}


def is_hd(width: int, height: int) -> bool:
    """What players treat as HD when a stream does not say: wider than 1024 or taller than 576 lines."""
    return width > 1024 or height > 576


@dataclass(frozen=True)
class Colour:
    """primaries, transfer, matrix (AVCOL_PRI/TRC/SPC) and range (AVCOL_RANGE), each specified."""

    primaries: int
    transfer: int
    matrix: int
    range: int

    @classmethod
    def default(cls, width: int, height: int) -> Colour:
        """What a stream of this size that says nothing is taken to be."""
        std = BT709 if is_hd(width, height) else SMPTE170M
        return cls(std, std, std, LIMITED)

    @classmethod
    def read(cls, tagged, width: int, height: int) -> Colour:
        """The colour of a codec context or frame (`tagged`), unspecified fields filled as `default` does.
        An RGB-coded stream (matrix RGB) keeps its primaries and transfer; its matrix is the default's, for
        whatever YUV output it goes to."""
        default = cls.default(width, height)

        def given(value, fallback: int, unset: tuple[int, ...] = (UNSPECIFIED,)) -> int:
            value = int(value) if value is not None else UNSPECIFIED
            return fallback if value in unset or value < 0 else value

        matrix = given(tagged.colorspace, default.matrix, (UNSPECIFIED, RGB))
        return cls(given(tagged.color_primaries, default.primaries), given(tagged.color_trc, default.transfer),
                   matrix if matrix in _SWS_MATRIX else default.matrix,
                   given(tagged.color_range, LIMITED, (0,)))

    @property
    def sws_matrix(self) -> str:
        """The matrix by libswscale's name, for `VideoFrame.reformat(src_colorspace=/dst_colorspace=)`."""
        return _SWS_MATRIX[self.matrix]

    @property
    def sws_range(self) -> str:
        """The range by libswscale's name, for `reformat(src_color_range=/dst_color_range=)`."""
        return "JPEG" if self.range == FULL else "MPEG"

    def tag(self, target) -> None:
        """Write the four fields onto a codec context or a frame (ProRes takes them from each frame)."""
        target.color_primaries, target.color_trc = self.primaries, self.transfer
        target.colorspace, target.color_range = self.matrix, self.range
