// ChannelAffine: a fixed per-channel affine map y[n, c] = scale[c] · x[n, c] + shift[c] (no parameters).
// EDSR's mean shifts are two of these: (x − mean) · 255 on the way in (scale 255, shift −255·mean) and
// x / 255 + mean on the way out (BasicSR keeps `mean` as a plain attribute, not in the state_dict).
// Backward: dx = scale[c] · dy.

import DQSSTensor

public final class ChannelAffine: UnaryLayer {
    public let scale: [Float]
    public let shift: [Float]
    public var isTraining = false
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(scale: [Float], shift: [Float]) {
        precondition(scale.count == shift.count && !scale.isEmpty, "ChannelAffine: \(scale.count) scales, \(shift.count) shifts")
        self.scale = scale
        self.shift = shift
    }

    /// (x − mean) · range (BasicSR's sub_mean with img_range).
    public static func subtractMean(_ mean: [Float], range: Float) -> ChannelAffine {
        ChannelAffine(scale: mean.map { _ in range }, shift: mean.map { -$0 * range })
    }

    /// x / range + mean (BasicSR's add_mean).
    public static func addMean(_ mean: [Float], range: Float) -> ChannelAffine {
        ChannelAffine(scale: mean.map { _ in 1 / range }, shift: mean)
    }

    private func apply(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, shape: [Int], shifted: Bool) {
        let c = shape[1], inner = shape[2...].reduce(1, *)
        precondition(c == scale.count, "ChannelAffine has \(scale.count) channels, input \(shape)")
        scale.withUnsafeBufferPointer { a in
            shift.withUnsafeBufferPointer { b in
                parallelFor(shape[0] * c, minChunk: 4) { plane in
                    let k = plane % c, m = a[k], t = shifted ? b[k] : 0
                    let p = src + plane * inner, q = dst + plane * inner
                    for j in 0..<inner { q[j] = m * p[j] + t }
                }
            }
        }
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 2, "ChannelAffine expects [N, C, ...] input, got \(x.shape)")
        output.resize(to: x.shape)
        apply(x.data, output.data, shape: x.shape, shifted: true)
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == output.shape, "ChannelAffine.backward: gradient \(gradOutput.shape) vs output \(output.shape)")
        gradInput.resize(to: gradOutput.shape)
        apply(gradOutput.data, gradInput.data, shape: gradOutput.shape, shifted: false)
        return gradInput
    }
}
