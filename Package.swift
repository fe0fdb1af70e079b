// swift-tools-version:6.0
import PackageDescription

// Every target builds in Swift 6 language mode (strict concurrency), set once below.
let package = Package(
    name: "Reelsmith",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "reelsmith", targets: ["reelsmith"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", exact: "1.0.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "3.12.3"),
    ],
    targets: [
        // FFTW (single precision) from the system packages: the STFT behind onset detection.
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .target(name: "ReelCore", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "ReelAudio", dependencies: ["ReelCore", "CFFTW"]),
        .target(name: "ReelMedia", dependencies: [
            "ReelCore",
            .product(name: "Subprocess", package: "swift-subprocess"),
        ]),
        .target(name: "ReelProviders", dependencies: ["ReelCore", "ReelMedia"]),
        .target(name: "ReelPipeline", dependencies: ["ReelCore", "ReelAudio", "ReelMedia", "ReelProviders"]),
        .target(name: "ReelCLI", dependencies: [
            "ReelCore", "ReelAudio", "ReelMedia", "ReelProviders", "ReelPipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "reelsmith", dependencies: ["ReelCLI"]),
        .target(name: "ReelTestSupport", dependencies: ["ReelCore", "ReelMedia", "ReelProviders"]),
        .testTarget(name: "ReelCoreTests", dependencies: ["ReelCore"]),
        .testTarget(name: "ReelAudioTests", dependencies: ["ReelAudio", "ReelMedia", "ReelTestSupport"]),
        .testTarget(name: "ReelMediaTests", dependencies: ["ReelMedia", "ReelTestSupport"]),
        .testTarget(name: "ReelPipelineTests", dependencies: ["ReelPipeline", "ReelTestSupport"]),
        .testTarget(name: "ReelCLITests", dependencies: ["ReelCLI", "ReelTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
