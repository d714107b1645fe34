import Testing
import DQSSTensor
import DQSSLayers
import DQSSModels

/// Every composite block's hand-written backward against central differences, on small instances with
/// random BatchNorm statistics (evaluation-mode BN, so the map is a fixed function of x and θ).
/// See `kinkTolerantGradientCheck` for why a few kink-straddling differences are tolerated.
@Suite("Block gradients")
struct BlockGradientTests {
    func check(_ block: any UnaryLayer, input shape: [Int], seed: UInt64, training: Bool = false) {
        var rng = RNG(seed: seed)
        randomizeBatchNorms(block, rng: &rng)
        block.setTraining(training)
        let x = Tensor.uniform(shape, -1, 1, rng: &rng)
        let failures = kinkTolerantGradientCheck(block, input: x, seed: seed)
        #expect(failures.isEmpty, "tensors with too many wrong gradient elements: \(failures)")
    }

    @Test("CIFAR BasicBlock, identity shortcut")
    func cifarBasicIdentity() {
        var rng = RNG(seed: 1)
        check(CIFARBasicBlock(inPlanes: 4, planes: 4, stride: 1, rng: &rng), input: [2, 4, 5, 5], seed: 11)
    }

    @Test("CIFAR BasicBlock, option-A shortcut (stride 2, channels doubled)")
    func cifarBasicOptionA() {
        var rng = RNG(seed: 2)
        let b = CIFARBasicBlock(inPlanes: 4, planes: 8, stride: 2, rng: &rng)
        #expect(b.shortcut != nil)
        check(b, input: [2, 4, 6, 6], seed: 12)
    }

    @Test("torchvision BasicBlock with and without conv downsample")
    func basicBlock() {
        var rng = RNG(seed: 3)
        let down = BasicBlock(inPlanes: 4, planes: 6, stride: 2, rng: &rng)
        #expect(down.downsample != nil)
        check(down, input: [2, 4, 6, 6], seed: 13)
        check(BasicBlock(inPlanes: 4, planes: 4, rng: &rng), input: [2, 4, 5, 5], seed: 14)
    }

    @Test("torchvision Bottleneck with and without conv downsample")
    func bottleneck() {
        var rng = RNG(seed: 4)
        check(Bottleneck(inPlanes: 4, planes: 2, stride: 2, rng: &rng), input: [2, 4, 6, 6], seed: 15)
        check(Bottleneck(inPlanes: 8, planes: 2, stride: 1, rng: &rng), input: [2, 8, 5, 5], seed: 16)
    }

    @Test("MobileNetV2 InvertedResidual: residual, expand-1 and stride-2 variants")
    func invertedResidual() {
        var rng = RNG(seed: 5)
        let res = InvertedResidual(inChannels: 4, outChannels: 4, stride: 1, expandRatio: 3, rng: &rng)
        #expect(res.usesResidual)
        check(res, input: [2, 4, 5, 5], seed: 17)
        check(InvertedResidual(inChannels: 4, outChannels: 6, stride: 1, expandRatio: 1, rng: &rng),
              input: [2, 4, 5, 5], seed: 18)
        check(InvertedResidual(inChannels: 4, outChannels: 6, stride: 2, expandRatio: 2, rng: &rng),
              input: [2, 4, 6, 6], seed: 19)
    }

    @Test("ShuffleNetV2 unit: stride 1 (split/concat/shuffle) and stride 2 (two branches)")
    func shuffleUnit() {
        var rng = RNG(seed: 6)
        check(ShuffleUnit(inChannels: 8, outChannels: 8, stride: 1, rng: &rng), input: [2, 8, 5, 5], seed: 20)
        check(ShuffleUnit(inChannels: 4, outChannels: 8, stride: 2, rng: &rng), input: [2, 4, 6, 6], seed: 21)
    }

    @Test("a whole ResNet-8 (every stage, pooling, classifier) matches finite differences")
    func wholeModels() {
        var rng = RNG(seed: 7)
        check(CIFARResNet(depth: 8, numClasses: 3, rng: &rng), input: [2, 3, 8, 8], seed: 22)
    }

    /// QAT trains these blocks with batch-statistics BatchNorm; the output is then smooth (not piecewise
    /// linear) in x and θ away from ReLU kinks, and ε = 1e-3 differences stay within the tolerance.
    @Test("every block type in training mode (batch-statistics BatchNorm)")
    func trainingMode() {
        var rng = RNG(seed: 8)
        check(CIFARBasicBlock(inPlanes: 4, planes: 8, stride: 2, rng: &rng), input: [4, 4, 6, 6], seed: 31, training: true)
        check(BasicBlock(inPlanes: 4, planes: 6, stride: 2, rng: &rng), input: [4, 4, 6, 6], seed: 32, training: true)
        check(Bottleneck(inPlanes: 8, planes: 2, stride: 1, rng: &rng), input: [4, 8, 5, 5], seed: 33, training: true)
        check(InvertedResidual(inChannels: 4, outChannels: 4, stride: 1, expandRatio: 3, rng: &rng),
              input: [4, 4, 5, 5], seed: 34, training: true)
        check(ShuffleUnit(inChannels: 8, outChannels: 8, stride: 1, rng: &rng), input: [4, 8, 5, 5], seed: 35, training: true)
        check(ShuffleUnit(inChannels: 4, outChannels: 8, stride: 2, rng: &rng), input: [4, 4, 6, 6], seed: 36, training: true)
    }
}
