// TiledInference: run an SR network on a large LR image tile by tile, so the activations of a whole
// image never have to fit in memory at once.
//
// The LR image is cut into `tile` × `tile` cores (the last row/column of cores may be smaller). Each core
// is run with `overlap` extra LR pixels of context on every side (clipped at the image border, where the
// network's own zero padding then applies exactly as for the whole image), and only the core's
// `scale` × `scale` part of the output is kept. For a network whose outputs depend only on inputs within
// `overlap` LR pixels (SRModelSpec.receptiveRadius) the result equals whole-image inference up to
// floating-point summation order; networks with global pooling (IMDN's channel attention) see per-tile
// statistics instead, so they should run untiled (`tile` nil) when exact numbers matter.

import DQSSTensor
import DQSSLayers

public enum TiledInference {
    /// SR of `lowResolution` [1, C, H, W]; returns a new [1, C', H·scale, W·scale] tensor (not a layer buffer).
    public static func run(_ model: any UnaryLayer, lowResolution x: Tensor, scale: Int,
                           tile: Int?, overlap: Int = 0) -> Tensor {
        precondition(x.rank == 4 && x.n == 1, "TiledInference takes one [1, C, H, W] image, got \(x.shape)")
        let (h, w) = (x.h, x.w)
        guard let tile, tile < max(h, w) else { return model.forward(x).copy() }
        precondition(tile >= 1 && overlap >= 0, "tile must be ≥ 1 and overlap ≥ 0")
        var out: Tensor?
        let patch = Tensor(shape: [0])
        for y0 in stride(from: 0, to: h, by: tile) {
            for x0 in stride(from: 0, to: w, by: tile) {
                let y1 = min(y0 + tile, h), x1 = min(x0 + tile, w)
                let py0 = max(y0 - overlap, 0), px0 = max(x0 - overlap, 0)
                let py1 = min(y1 + overlap, h), px1 = min(x1 + overlap, w)
                let (ph, pw) = (py1 - py0, px1 - px0)
                patch.resize(to: [1, x.c, ph, pw])
                for c in 0..<x.c {
                    for r in 0..<ph {
                        (patch.data + (c * ph + r) * pw).update(from: x.data + (c * h + py0 + r) * w + px0, count: pw)
                    }
                }
                let y = model.forward(patch)
                precondition(y.h == ph * scale && y.w == pw * scale, "model output \(y.shape) is not x\(scale) of \(patch.shape)")
                let result = out ?? Tensor(shape: [1, y.c, h * scale, w * scale])
                out = result
                let (oh, ow) = (h * scale, w * scale), (yh, yw) = (y.h, y.w)
                let rows = (y1 - y0) * scale, cols = (x1 - x0) * scale
                let sy = (y0 - py0) * scale, sx = (x0 - px0) * scale
                for c in 0..<y.c {
                    for r in 0..<rows {
                        (result.data + (c * oh + y0 * scale + r) * ow + x0 * scale)
                            .update(from: y.data + (c * yh + sy + r) * yw + sx, count: cols)
                    }
                }
            }
        }
        return out!
    }
}
