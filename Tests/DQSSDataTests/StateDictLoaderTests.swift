import Foundation
import Testing
import DQSSData
import DQSSTensor

@Suite("StateDictLoader")
struct StateDictLoaderTests {
    @Test("missing, unexpected and wrong-shape tensors are all listed in one error, nothing is copied")
    func strictError() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let url = dir.file("ckpt.safetensors")
        try SafetensorsWriter.write([("module.conv.weight", Tensor(shape: [2, 1, 3, 3], repeating: 1)),
                                     ("module.fc.weight", Tensor(shape: [3, 4], repeating: 1)),
                                     ("module.extra.bias", Tensor(shape: [5], repeating: 1))], to: url)
        let f = try SafetensorsFile(contentsOf: url)
        let conv = Tensor(shape: [2, 1, 3, 3]), fc = Tensor(shape: [4, 3]), bn = Tensor(shape: [2])
        let loader = StateDictLoader(stripPrefix: "module.")
        expectDataError([url.path, "1 missing, 1 unexpected, 1 wrong shape",
                         "bn.running_mean [2]", "module.extra.bias [5]", "fc.weight: file [3, 4] (F32), model [4, 3]"]) {
            try loader.load(f, into: [("conv.weight", conv), ("fc.weight", fc), ("bn.running_mean", bn)])
        }
        #expect(conv.array.allSatisfy { $0 == 0 }, "nothing may be copied before the check passes")
    }

    @Test("prefix stripping, ignorable suffixes and copying when everything matches")
    func successfulLoad() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let url = dir.file("ckpt.safetensors")
        try SafetensorsWriter.write(entries: [.float32("module.fc.weight", Tensor(shape: [2, 2], values: [1, 2, 3, 4])),
                                              .float32("module.bn.bias", Tensor(shape: [2], values: [5, 6])),
                                              .int64("module.bn.num_batches_tracked", shape: [], [7])], to: url)
        let f = try SafetensorsFile(contentsOf: url)
        let w = Tensor(shape: [2, 2]), b = Tensor(shape: [2])
        let report = try StateDictLoader(stripPrefix: "module.").load(f, into: [("fc.weight", w), ("bn.bias", b)])
        #expect(w.array == [1, 2, 3, 4])
        #expect(b.array == [5, 6])
        #expect(report.loaded == ["fc.weight", "bn.bias"])
        #expect(report.ignored == ["bn.num_batches_tracked"])
        // Without the ignorable suffix the counter is unexpected.
        expectDataError(["unexpected", "module.bn.num_batches_tracked"]) {
            try StateDictLoader(stripPrefix: "module.", ignoredSuffixes: []).load(f, into: [("fc.weight", w), ("bn.bias", b)])
        }
        // Without the prefix strip every name is both missing and unexpected.
        expectDataError(["2 missing, 2 unexpected"]) {
            try StateDictLoader().load(f, into: [("fc.weight", w), ("bn.bias", b)])
        }
    }

    @Test("an ignorable tensor the model declares is skipped whatever its shape in the file, or its absence")
    func ignorableDestinationNeverLoaded() throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let url = dir.file("ckpt.safetensors")
        try SafetensorsWriter.write(entries: [.float32("bn.bias", Tensor(shape: [2], values: [5, 6])),
                                              .int64("bn.num_batches_tracked", shape: [], [7])], to: url)
        let f = try SafetensorsFile(contentsOf: url)
        let b = Tensor(shape: [2]), counter = Tensor(shape: [1], repeating: -1)
        let report = try StateDictLoader().load(f, into: [("bn.bias", b), ("bn.num_batches_tracked", counter)])
        #expect(b.array == [5, 6])
        #expect(counter.array == [-1], "the counter is not copied")
        #expect(report.loaded == ["bn.bias"])
        #expect(report.ignored == ["bn.num_batches_tracked"])
        // Not in the file at all: still no error.
        let url2 = dir.file("no-counter.safetensors")
        try SafetensorsWriter.write([("bn.bias", Tensor(shape: [2], values: [1, 2]))], to: url2)
        let report2 = try StateDictLoader().load(try SafetensorsFile(contentsOf: url2),
                                                 into: [("bn.bias", b), ("bn.num_batches_tracked", counter)])
        #expect(report2.ignored == ["bn.num_batches_tracked"])
    }

    @Test("the real ResNet-20 checkpoint loads strictly into tensors shaped as its manifest says",
          .enabled(if: SharedData.exists(SharedData.resnet20), "shared datasets absent"))
    func realResNet20() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: SharedData.url("models/cifar10/akamaster_resnet20.json"))) as! [String: Any]
        let tensors = manifest["tensors"] as! [[String: Any]]
        let destinations = tensors.map { t in
            (name: String((t["name"] as! String).dropFirst("module.".count)), tensor: Tensor(shape: t["shape"] as! [Int]))
        }
        let f = try SafetensorsFile(contentsOf: SharedData.url(SharedData.resnet20))
        let report = try StateDictLoader(stripPrefix: "module.").load(f, into: destinations)
        #expect(report.loaded.count == 97)
        let bias = destinations.first { $0.name == "linear.bias" }!.tensor
        #expect(bias[0] == 0.19355906546115875)
    }
}
