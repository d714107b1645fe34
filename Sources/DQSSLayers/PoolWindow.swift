// PoolWindow: the k×k / stride s / padding p window geometry of the pooling layers (MaxPool2d, AvgPool2d),
// PyTorch's ceil_mode=False arithmetic:  out = ⌊(H + 2p − k) / s⌋ + 1 (same for W).

import DQSSTensor

public struct PoolWindow: Sendable, Equatable {
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    /// `layer` names the pool in the error (PyTorch's limit: padding at most half the kernel).
    init(layer: String, kernelSize: Int, stride: Int?, padding: Int) {
        precondition(kernelSize > 0 && (stride ?? kernelSize) > 0 && padding >= 0 && padding * 2 <= kernelSize,
                     "\(layer): bad kernel \(kernelSize) / stride \(String(describing: stride)) / padding \(padding)")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public func outputSize(_ size: Int) -> Int { (size + 2 * padding - kernelSize) / stride + 1 }

    /// (oh, ow) for an NCHW input, refused with the layer's name when the input is not 4-D or too small.
    func outputSize(of x: Tensor, layer: String) -> (h: Int, w: Int) {
        precondition(x.rank == 4, "\(layer) expects NCHW input, got \(x.shape)")
        let oh = outputSize(x.h), ow = outputSize(x.w)
        precondition(oh > 0 && ow > 0, "\(layer)(k=\(kernelSize)) input \(x.shape) is too small")
        return (oh, ow)
    }
}
