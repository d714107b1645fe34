// ConvGeometry: the shapes of one 2-D convolution (NCHW input, OIHW weight, dilation 1).
//
// outH = (inH + 2·padding − kernelH) / stride + 1 (floor), likewise outW. With `groups` = g the input
// channels split into g blocks of inChannels/g and the output channels into g blocks of outChannels/g;
// output block j sees only input block j. Depthwise: groups == inChannels == outChannels.

/// Shapes and derived sizes of a 2-D convolution. A value type shared by the fast kernels, the naive
/// reference and the Conv2d layer.
public struct ConvGeometry: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var inChannels: Int
    public var inH: Int
    public var inW: Int
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var stride: Int
    public var padding: Int
    public var groups: Int

    public init(batch: Int, inChannels: Int, inH: Int, inW: Int, outChannels: Int,
                kernelH: Int, kernelW: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        self.batch = batch; self.inChannels = inChannels; self.inH = inH; self.inW = inW
        self.outChannels = outChannels; self.kernelH = kernelH; self.kernelW = kernelW
        self.stride = stride; self.padding = padding; self.groups = groups
    }

    /// Square kernel convenience.
    public init(batch: Int, inChannels: Int, inH: Int, inW: Int, outChannels: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        self.init(batch: batch, inChannels: inChannels, inH: inH, inW: inW, outChannels: outChannels,
                  kernelH: kernel, kernelW: kernel, stride: stride, padding: padding, groups: groups)
    }

    /// Nil when the geometry is valid, else a message naming the problem.
    public var validationError: String? {
        if batch < 0 || inChannels < 1 || outChannels < 1 || inH < 1 || inW < 1 { return "non-positive size in \(self)" }
        if kernelH < 1 || kernelW < 1 || stride < 1 || padding < 0 { return "bad kernel/stride/padding in \(self)" }
        if groups < 1 || inChannels % groups != 0 || outChannels % groups != 0 {
            return "groups \(groups) must divide inChannels \(inChannels) and outChannels \(outChannels)"
        }
        if outH < 1 || outW < 1 { return "kernel larger than padded input in \(self)" }
        return nil
    }

    public var outH: Int { (inH + 2 * padding - kernelH) / stride + 1 }
    public var outW: Int { (inW + 2 * padding - kernelW) / stride + 1 }
    /// Input channels per group.
    public var inPerGroup: Int { inChannels / groups }
    /// Output channels per group.
    public var outPerGroup: Int { outChannels / groups }
    /// Rows of one group's im2col matrix: (inChannels/groups)·kH·kW — the GEMM's K.
    public var patchSize: Int { inPerGroup * kernelH * kernelW }
    public var inSpatial: Int { inH * inW }
    public var outSpatial: Int { outH * outW }

    public var inputShape: [Int] { [batch, inChannels, inH, inW] }
    public var outputShape: [Int] { [batch, outChannels, outH, outW] }
    public var weightShape: [Int] { [outChannels, inPerGroup, kernelH, kernelW] }
    public var inputCount: Int { batch * inChannels * inSpatial }
    public var outputCount: Int { batch * outChannels * outSpatial }
    public var weightCount: Int { outChannels * patchSize }

    /// groups == inChannels == outChannels: one k×k filter per channel (MobileNet, ShuffleNet).
    public var isDepthwise: Bool { groups == inChannels && groups == outChannels && groups > 1 }
    /// 1×1, stride 1, no padding: the input planes are already the im2col matrix.
    public var isPointwise: Bool { kernelH == 1 && kernelW == 1 && stride == 1 && padding == 0 }

    /// Multiply-adds ×2 of the forward pass (bias excluded). Backward-data and backward-weight cost
    /// the same each, so a full backward is 2× this.
    public var forwardFLOPs: Double {
        2 * Double(batch) * Double(outChannels) * Double(outSpatial) * Double(patchSize)
    }

    public var description: String {
        "Conv(\(batch)x\(inChannels)x\(inH)x\(inW) -> \(outChannels), k\(kernelH)x\(kernelW) s\(stride) p\(padding) g\(groups))"
    }
}
