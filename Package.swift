// swift-tools-version: 6.1
// dqss: differentiable search for per-layer quantization strategies (DQSS), on CPU (OpenBLAS) and MPI.
//
// Module graph (arrows point one way, downward; each module uses only modules above it):
//   _CBLAS, _CDNNL, _CPNG, _CJPEG, _CHDF5, _CMPI (C shims; _CDNNL a small C layer over oneDNN)
//     -> DQSSTensor      (tensor, RNG, threads, GEMM/conv kernels with naive references)
//     -> DQSSLayers      (layers with forward/backward side by side, losses, SGD/Adam)
//     -> DQSSDistributed (communicator: Open MPI or one process; gradient buckets; rank error policy)
//     -> DQSSData        (safetensors, CIFAR-10, PNG/JPEG, resize + crop, generated data)
//     -> DQSSModels      (model zoo with PyTorch parameter names)          [Tensor, Layers, Data]
//     -> DQSSQuant       (uniform quantizer, calibrators, QAT quantizers)  [Tensor, Layers, Distributed]
//     -> DQSSSearch      (the DQSS mixed operator, PTQ and QAT; α/β search) [Quant, Distributed]
//     -> DQSSFormats     (the JSON documents: one Codable type per file, snake_case by one encoder
//                         setting; atomic file writes)                     [Quant, Search]
//     -> DQSSCheckpoint  (HDF5 checkpoints; exact resume; no trainer)      [HDF5, Quant, Search, Formats]
//     -> DQSSExport      (ONNX QDQ, TensorRT cache; over ONNXProto)        [Models, Quant, Search, Formats]
//     -> DQSSRun         (the library API: data sources, training/evaluation loops, the one PTQ search
//                         pipeline, QATTrainer and the QAT run, checkpoint sessions, reports)
//     -> DQSSCLI         (commands: flags, a call into DQSSRun, a printer; `dqss` is a thin main over it)
//   DQSSHDF5 (the only user of _CHDF5: files, groups, arrays, byte rows) sits beside DQSSTensor and is
//   used by DQSSCheckpoint (which re-exports it) and DQSSShards (HDF5 image shards, over DQSSData);
//   DQSSRun and DQSSCLI use both.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "dqss",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "dqss", targets: ["dqss"]),
        .executable(name: "dqss-bench", targets: ["dqss-bench"]),
        .library(name: "DQSS", targets: ["DQSSTensor", "DQSSLayers", "DQSSData", "DQSSModels", "DQSSQuant",
                                                "DQSSSearch", "DQSSCheckpoint", "DQSSDistributed",
                                                "DQSSHDF5", "DQSSShards", "DQSSFormats", "DQSSExport", "DQSSRun"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // ONNX export: runtime of the generated Sources/ONNXProto/onnx.pb.swift (same release as its generator).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: - C shims
        .systemLibrary(name: "_CBLAS", path: "Sources/_CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "_CPNG", path: "Sources/_CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "_CJPEG", path: "Sources/_CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "_CHDF5", path: "Sources/_CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "_CMPI", path: "Sources/_CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // oneDNN's convolutions (Debian libdnnl-dev) behind a small C layer: plans of one geometry, every call
        // on one thread. libgomp: oneDNN's OpenMP runtime, whose per-thread team size the layer sets to 1.
        .target(name: "_CDNNL", path: "Sources/_CDNNL",
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),

        // MARK: - Engine
        .target(name: "DQSSTensor", dependencies: ["_CBLAS", "_CDNNL"], swiftSettings: swiftSettings),
        .target(name: "DQSSLayers", dependencies: ["DQSSTensor"], swiftSettings: swiftSettings),
        .target(name: "DQSSData", dependencies: ["DQSSTensor", "_CPNG", "_CJPEG"], swiftSettings: swiftSettings),
        // The HDF5 wrapper: owns every hid_t; nothing above it imports _CHDF5.
        .target(name: "DQSSHDF5", dependencies: ["_CHDF5"], swiftSettings: swiftSettings),
        // Image shards for ImageNet-scale data: `dqss prepare` packs an image folder, ranks read their shards.
        .target(name: "DQSSShards", dependencies: ["DQSSHDF5", "DQSSData", "DQSSTensor"], swiftSettings: swiftSettings),
        // Data parallelism: communicator (Open MPI or single process), gradient buckets, rank policy.
        .target(name: "DQSSDistributed", dependencies: ["_CMPI", "DQSSTensor", "DQSSLayers"],
                swiftSettings: swiftSettings),
        .target(name: "DQSSModels", dependencies: ["DQSSTensor", "DQSSLayers", "DQSSData"],
                swiftSettings: swiftSettings),
        .target(name: "DQSSQuant", dependencies: ["DQSSTensor", "DQSSLayers", "DQSSDistributed"],
                swiftSettings: swiftSettings),
        .target(name: "DQSSSearch", dependencies: ["DQSSTensor", "DQSSLayers", "DQSSQuant", "DQSSDistributed"],
                swiftSettings: swiftSettings),
        // The JSON documents dqss writes and reads (assignment, thresholds, ...) and atomic file writes.
        .target(name: "DQSSFormats", dependencies: ["DQSSQuant", "DQSSSearch"], swiftSettings: swiftSettings),
        // HDF5 checkpoints: the versioned layout and exact resume, over the DQSSHDF5 wrapper.
        .target(name: "DQSSCheckpoint", dependencies: ["DQSSHDF5", "DQSSTensor", "DQSSLayers", "DQSSQuant", "DQSSSearch",
                                                       "DQSSFormats"],
                swiftSettings: swiftSettings),

        // MARK: - Run (the library a Swift user calls: data sources, training/evaluation loops, the PTQ search
        // pipeline, the QAT run, checkpoint sessions and the file formats they write)
        .target(name: "DQSSRun",
                dependencies: ["DQSSTensor", "DQSSLayers", "DQSSData", "DQSSModels", "DQSSQuant", "DQSSSearch",
                               "DQSSDistributed", "DQSSFormats", "DQSSCheckpoint", "DQSSShards"],
                swiftSettings: swiftSettings),

        // MARK: - Export (ONNX QDQ, TensorRT calibration cache)
        // Generated protobuf types of onnx.proto (see Sources/ONNXProto/README.md); no build-time protoc.
        .target(name: "ONNXProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["onnx.proto", "README.md"]),
        .target(name: "DQSSExport",
                dependencies: ["DQSSTensor", "DQSSLayers", "DQSSModels", "DQSSQuant", "DQSSSearch", "DQSSFormats", "ONNXProto",
                               .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: swiftSettings),

        // MARK: - Command line
        .target(name: "DQSSCLI",
                dependencies: ["DQSSTensor", "DQSSLayers", "DQSSData", "DQSSModels", "DQSSQuant", "DQSSSearch",
                               "DQSSDistributed",
                               "DQSSCheckpoint", "DQSSShards", "DQSSFormats",
                               "DQSSExport", "DQSSRun",
                               .product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: swiftSettings),
        .executableTarget(name: "dqss", dependencies: ["DQSSCLI"], swiftSettings: swiftSettings),
        // Multi-rank self-checks and the small PTQ search the mpirun tests compare across rank counts.
        .executableTarget(name: "dqss-mpitest",
                          dependencies: ["DQSSDistributed", "DQSSTensor", "DQSSLayers", "DQSSData", "DQSSModels",
                                         "DQSSQuant", "DQSSSearch", "DQSSRun"],
                          swiftSettings: swiftSettings),
        .executableTarget(name: "dqss-bench",
                          dependencies: ["DQSSTensor", "DQSSLayers", "DQSSModels", "DQSSQuant", "DQSSSearch",
                                         "DQSSData", "DQSSDistributed",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: swiftSettings),

        // MARK: - Tests
        .target(name: "_TestSupport", dependencies: ["DQSSTensor", "DQSSLayers"], path: "Tests/_TestSupport",
                swiftSettings: swiftSettings),
        .testTarget(name: "DQSSTensorTests", dependencies: ["DQSSTensor", "_TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSLayersTests", dependencies: ["DQSSLayers", "_TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSDataTests", dependencies: ["DQSSData", "_TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSModelsTests", dependencies: ["DQSSModels", "DQSSData", "DQSSRun", "_TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSQuantTests", dependencies: ["DQSSQuant", "DQSSModels", "DQSSData", "DQSSRun", "_TestSupport"],
                    swiftSettings: swiftSettings),
        // Runs the built `dqss` executable end to end (it sits next to the test bundle).
        .testTarget(name: "DQSSCLITests", dependencies: ["dqss", "DQSSData", "DQSSTensor"], swiftSettings: swiftSettings),
        // Unit tests of the communicator and buckets; mpirun tests of the `dqss-mpitest` executable.
        .testTarget(name: "DQSSDistributedTests", dependencies: ["DQSSDistributed", "DQSSCheckpoint", "dqss-mpitest", "dqss", "_TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSShardsTests", dependencies: ["DQSSShards", "DQSSData", "DQSSHDF5", "DQSSTensor"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSSearchTests", dependencies: ["DQSSSearch", "DQSSQuant", "DQSSDistributed", "DQSSModels",
                                                            "DQSSData", "DQSSRun", "_TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSCheckpointTests",
                    dependencies: ["DQSSCheckpoint", "DQSSRun", "DQSSModels", "DQSSData", "DQSSSearch", "DQSSQuant", "_TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSRunTests",
                    dependencies: ["DQSSRun", "DQSSCheckpoint", "DQSSModels", "DQSSData", "DQSSSearch", "DQSSQuant",
                                   "DQSSLayers", "DQSSTensor", "DQSSExport", "DQSSDistributed", "_TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DQSSExportTests",
                    dependencies: ["DQSSExport", "DQSSModels", "DQSSQuant", "DQSSData", "ONNXProto", "_TestSupport"],
                    swiftSettings: swiftSettings),
    ]
)
