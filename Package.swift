// swift-tools-version:6.0
import Foundation
import PackageDescription

/// Lowbit builds for the host CPU by default (like llama.cpp's GGML_NATIVE): F16C, AVX2/AVX-512
/// turn Float16 conversion and rounding into single instructions. Set `LOWBIT_PORTABLE=1` in the
/// environment for a build that runs on any x86-64 (or arm64) machine.
let portable = ProcessInfo.processInfo.environment["LOWBIT_PORTABLE"] == "1"
let nativeSwift: [SwiftSetting] = portable ? [] : [.unsafeFlags(["-target-cpu", "native"])]
let nativeC: [CSetting] = portable ? [] : [.unsafeFlags(["-march=native"])]
let swiftSettings: [SwiftSetting] = nativeSwift + [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "Lowbit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "LowbitSystem", targets: ["LowbitSystem"]),
        .library(name: "LowbitFormats", targets: ["LowbitFormats"]),
        .library(name: "LowbitModels", targets: ["LowbitModels"]),
        .library(name: "LowbitQuant", targets: ["LowbitQuant"]),
        .library(name: "LowbitTokenizer", targets: ["LowbitTokenizer"]),
        .library(name: "LowbitConvert", targets: ["LowbitConvert"]),
        .library(name: "LowbitEval", targets: ["LowbitEval"]),
        .library(name: "LowbitCalibrate", targets: ["LowbitCalibrate"]),
        .executable(name: "lowbit", targets: ["lowbit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // The evaluator's matrix kernels; AVX-512 code is chosen at run time, so no -march here.
        .target(name: "CLowbitKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Signal handlers for clean interrupts (async-signal-safe C; the work is done in Swift).
        .target(name: "CLowbitSystem"),
        // Temporary outputs, locks, stale clean-up, free space and signals: the reliability layer.
        .target(name: "LowbitSystem", dependencies: ["CLowbitSystem"], swiftSettings: swiftSettings),
        .target(name: "LowbitFormats", dependencies: ["LowbitSystem"], swiftSettings: swiftSettings),
        // The architecture seam: one file per model family, and the registry that picks one.
        .target(name: "LowbitModels", dependencies: ["LowbitFormats"], swiftSettings: swiftSettings),
        .target(name: "LowbitTokenizer", dependencies: ["LowbitFormats"], swiftSettings: swiftSettings),
        .target(name: "LowbitQuant", dependencies: ["LowbitSystem", "LowbitFormats", "COpenBLAS"], swiftSettings: swiftSettings),
        .target(
            name: "LowbitConvert",
            dependencies: ["LowbitSystem", "LowbitFormats", "LowbitModels", "LowbitQuant", "LowbitTokenizer"],
            swiftSettings: swiftSettings),
        .target(
            name: "LowbitEval",
            dependencies: ["LowbitSystem", "LowbitFormats", "LowbitModels", "LowbitQuant", "LowbitTokenizer", "COpenBLAS", "CZstd", "CLowbitKernels"],
            swiftSettings: swiftSettings),
        // Calibration: importance matrices collected from the evaluator's forward pass.
        .target(
            name: "LowbitCalibrate",
            dependencies: ["LowbitFormats", "LowbitModels", "LowbitQuant", "LowbitEval", "LowbitSystem", "COpenBLAS"],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "lowbit",
            dependencies: [
                "LowbitSystem", "LowbitFormats", "LowbitQuant", "LowbitTokenizer", "LowbitConvert", "LowbitEval",
                "LowbitCalibrate",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "lowbit-bench",
            dependencies: [
                "LowbitSystem", "LowbitFormats", "LowbitQuant", "LowbitConvert", "LowbitEval",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/lowbit-bench",
            swiftSettings: swiftSettings),
        // What the test targets share: fixture paths, the cached real model, an in-memory
        // TensorSource, seeded generators and reference statistics. Only test targets depend on it.
        .target(name: "LowbitTestSupport", dependencies: ["LowbitFormats"], path: "Tests/LowbitTestSupport",
                swiftSettings: swiftSettings),
        .testTarget(name: "LowbitSystemTests", dependencies: ["LowbitSystem"], swiftSettings: swiftSettings),
        .testTarget(name: "LowbitFormatsTests", dependencies: ["LowbitTestSupport", "LowbitFormats"], swiftSettings: swiftSettings),
        .testTarget(name: "LowbitModelsTests", dependencies: ["LowbitModels", "LowbitFormats"], swiftSettings: swiftSettings),
        .testTarget(name: "LowbitQuantTests", dependencies: ["LowbitTestSupport", "LowbitQuant", "LowbitFormats"], swiftSettings: swiftSettings),
        .testTarget(name: "LowbitTokenizerTests", dependencies: ["LowbitTestSupport", "LowbitTokenizer", "LowbitFormats"], swiftSettings: swiftSettings),
        .testTarget(name: "LowbitConvertTests", dependencies: ["LowbitTestSupport", "LowbitConvert", "LowbitModels", "LowbitQuant", "LowbitFormats"], swiftSettings: swiftSettings),
        .testTarget(name: "LowbitEvalTests", dependencies: ["LowbitTestSupport", "LowbitEval", "LowbitModels", "LowbitFormats"], swiftSettings: swiftSettings),
        .testTarget(name: "LowbitCalibrateTests", dependencies: ["LowbitTestSupport", "LowbitCalibrate", "LowbitEval", "LowbitFormats", "LowbitConvert", "LowbitQuant"], swiftSettings: swiftSettings),
        .testTarget(name: "LowbitCLITests", dependencies: ["LowbitTestSupport", "lowbit", "LowbitFormats"], swiftSettings: swiftSettings),
    ]
)
