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
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/vapor/vapor.git", exact: "4.122.3"),
        .package(url: "https://github.com/vapor/fluent.git", exact: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", exact: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", exact: "2.14.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
    ],
    targets: [
        // FFTW (single precision) from the system packages: the STFT behind onset detection.
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // Cairo from the system packages: the 2D vector library the offline scenes and the storyboard are drawn with.
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        .target(name: "ReelCore", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "ReelAudio", dependencies: ["ReelCore", "CFFTW"]),
        .target(name: "ReelMedia", dependencies: [
            "ReelCore",
            .product(name: "Subprocess", package: "swift-subprocess"),
        ]),
        // Procedural scenes and storyboards drawn with Cairo into BGRA frames; pure drawing, no processes.
        .target(name: "ReelDraw", dependencies: ["ReelCore", "CCairo"]),
        .target(name: "ReelProviders", dependencies: [
            "ReelCore", "ReelMedia", "ReelDraw",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "ReelPipeline", dependencies: ["ReelCore", "ReelAudio", "ReelMedia", "ReelProviders"]),
        // Persistence (Fluent on SQLite or PostgreSQL), the job queue, object storage (local folder or S3 over
        // AsyncHTTPClient with Signature Version 4) and the checkpoint store.
        .target(name: "ReelStore", dependencies: [
            "ReelCore",
            .product(name: "Fluent", package: "fluent"),
            .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
            .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The HTTP API, live progress, accounts and the job worker.
        .target(name: "ReelServer", dependencies: [
            "ReelCore", "ReelAudio", "ReelMedia", "ReelProviders", "ReelPipeline", "ReelStore",
            .product(name: "Vapor", package: "vapor"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .target(name: "ReelCLI", dependencies: [
            "ReelCore", "ReelAudio", "ReelMedia", "ReelProviders", "ReelPipeline", "ReelStore", "ReelServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "reelsmith", dependencies: ["ReelCLI"]),
        // `benchmarks/bench_draw.py`: drawing time per frame of the offline scenes at each preset.
        .executableTarget(name: "reelsmith-drawbench", dependencies: ["ReelCore", "ReelDraw"], path: "benchmarks/draw/drawbench"),
        // Loopback servers speaking the Replicate, Cog and LLM protocols are plain SwiftNIO HTTP/1.1 servers.
        .target(name: "ReelTestSupport", dependencies: [
            "ReelCore", "ReelMedia", "ReelProviders", "ReelStore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "ReelCoreTests", dependencies: ["ReelCore"]),
        .testTarget(name: "ReelAudioTests", dependencies: ["ReelAudio", "ReelMedia", "ReelTestSupport"]),
        .testTarget(name: "ReelMediaTests", dependencies: ["ReelMedia", "ReelTestSupport"]),
        .testTarget(name: "ReelProvidersTests", dependencies: [
            "ReelProviders", "ReelDraw", "ReelTestSupport", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "ReelPipelineTests", dependencies: ["ReelPipeline", "ReelTestSupport"]),
        .testTarget(name: "ReelCLITests", dependencies: ["ReelCLI", "ReelTestSupport"]),
        .testTarget(name: "ReelStoreTests", dependencies: [
            "ReelStore", "ReelTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "ReelServerTests", dependencies: [
            "ReelServer", "ReelStore", "ReelTestSupport", .product(name: "VaporTesting", package: "vapor"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
