import Testing
import DQSSTensor
import DQSSLayers
import DQSSModels

/// Serialized: a VGG-16 holds 138 M parameters plus their gradients (1.1 GB); building several at
/// once on a shared machine is not worth the few seconds saved.
@Suite("Model zoo", .serialized)
struct ModelZooTests {
    /// torchvision's parameter counts (sum of numel over model.parameters()), and the CIFAR models'
    /// learnable counts from their weight manifests (akamaster prints 269,722 for ResNet-20).
    static let expectedCounts: [(String, Int)] = [
        ("resnet18", 11_689_512), ("resnet50", 25_557_032), ("mobilenet_v2", 3_504_872),
        ("vgg16", 138_357_544), ("vgg16_bn", 138_365_992), ("shufflenet_v2_x1_0", 2_278_604),
        ("resnet20", 269_722), ("resnet32", 464_154), ("resnet44", 658_586), ("resnet56", 853_018),
        ("shufflenetv2_x0_5", 352_042),
    ]

    @Test("parameter counts equal torchvision's / the checkpoints'", arguments: expectedCounts)
    func parameterCount(name: String, expected: Int) throws {
        let model = try ModelZoo.spec(named: name).make(seed: 1)
        #expect(model.parameterCount == expected)
    }

    @Test("every registered name builds, and names are unique")
    func registry() throws {
        #expect(Set(ModelZoo.names).count == ModelZoo.names.count)
        #expect(ModelZoo.names == ["resnet20", "resnet32", "resnet44", "resnet56", "shufflenetv2_x0_5", "vgg16",
                                   "vgg16_bn", "resnet18", "resnet50", "mobilenet_v2", "shufflenet_v2_x1_0"])
        #expect(throws: ModelError.self) { try ModelZoo.spec(named: "resnet19") }
    }

    /// Spot checks of PyTorch state_dict names (parameters and buffers) and shapes.
    @Test("parameter and buffer names follow PyTorch's state_dict")
    func names() throws {
        func shapes(_ name: String) throws -> [String: [Int]] {
            let m = try ModelZoo.spec(named: name).make(seed: 1)
            var d: [String: [Int]] = [:]
            for p in m.namedParameters() { d[p.name] = p.parameter.value.shape }
            for b in m.namedBuffers() { d[b.name] = b.tensor.shape }
            return d
        }
        let r18 = try shapes("resnet18")
        #expect(r18["conv1.weight"] == [64, 3, 7, 7])
        #expect(r18["layer2.0.downsample.0.weight"] == [128, 64, 1, 1])
        #expect(r18["layer2.0.downsample.1.running_var"] == [128])
        #expect(r18["fc.weight"] == [1000, 512])
        let r50 = try shapes("resnet50")
        #expect(r50["layer1.0.conv3.weight"] == [256, 64, 1, 1])
        #expect(r50["layer4.2.bn3.bias"] == [2048])
        let mb = try shapes("mobilenet_v2")
        #expect(mb["features.0.0.weight"] == [32, 3, 3, 3])
        #expect(mb["features.1.conv.0.0.weight"] == [32, 1, 3, 3])
        #expect(mb["features.1.conv.1.weight"] == [16, 32, 1, 1])
        #expect(mb["features.2.conv.3.running_mean"] == [24])
        #expect(mb["features.18.1.weight"] == [1280])
        #expect(mb["classifier.1.weight"] == [1000, 1280])
        let vgg = try shapes("vgg16")
        #expect(vgg["features.28.bias"] == [512])
        #expect(vgg["classifier.6.weight"] == [1000, 4096])
        let vggbn = try shapes("vgg16_bn")
        #expect(vggbn["features.1.running_var"] == [64])
        #expect(vggbn["features.41.weight"] == [512])
        let sh = try shapes("shufflenet_v2_x1_0")
        #expect(sh["conv1.0.weight"] == [24, 3, 3, 3])
        #expect(sh["stage2.0.branch1.0.weight"] == [24, 1, 3, 3])
        #expect(sh["stage2.0.branch2.0.weight"] == [58, 24, 1, 1])
        #expect(sh["stage3.1.branch2.3.weight"] == [116, 1, 3, 3])
        #expect(sh["stage3.1.branch1.0.weight"] == nil)
        #expect(sh["conv5.1.running_mean"] == [1024])
        let r20 = try shapes("resnet20")
        #expect(r20["layer3.2.bn2.running_var"] == [64])
        #expect(r20["linear.weight"] == [10, 64])
    }

    @Test("CIFAR models map a 2x3x32x32 batch to finite [2, 10] logits")
    func cifarForward() throws {
        for name in ["resnet20", "shufflenetv2_x0_5"] {
            let m = try ModelZoo.spec(named: name).make(seed: 2)
            var rng = RNG(seed: 3)
            let y = m.forward(Tensor.uniform([2, 3, 32, 32], -2, 2, rng: &rng))
            #expect(y.shape == [2, 10], "\(name)")
            #expect(y.isFinite, "\(name)")
        }
    }
}

/// A forward pass of each ImageNet model on a random 1x3x224x224 batch (slow in debug builds).
@Suite("ImageNet forward", .serialized)
struct ImageNetForwardTests {
    @Test("forward on a random 224x224 image gives finite [1, 1000] logits",
          arguments: ["vgg16", "vgg16_bn", "resnet18", "resnet50", "mobilenet_v2", "shufflenet_v2_x1_0"])
    func forward(name: String) throws {
        let m = try ModelZoo.spec(named: name).make(seed: 4)
        var rng = RNG(seed: 5)
        randomizeBatchNorms(m, rng: &rng)
        let y = m.forward(Tensor.uniform([1, 3, 224, 224], -2, 2, rng: &rng))
        #expect(y.shape == [1, 1000])
        #expect(y.isFinite)
        #expect(y.maxAbs() > 0)
    }
}
