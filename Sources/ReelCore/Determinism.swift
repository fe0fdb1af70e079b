import Crypto
import Foundation

/// SplitMix64: a small, fast generator whose sequence depends only on its seed, so a seed reproduces a video.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator for one named purpose, so adding a use elsewhere does not shift this one's numbers.
    public static func derived(seed: UInt64, _ purpose: String) -> SeededGenerator {
        SeededGenerator(seed: seed ^ ContentHash.stableHash64(purpose))
    }
}

/// SHA-256 content hashes: file identity for caches and the manifest.
public enum ContentHash {
    public static func sha256(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    /// SHA-256 of a text's UTF-8 bytes (API keys and session tokens are kept as these).
    public static func sha256(text: String) -> String { hex(SHA256.hash(data: Array(text.utf8))) }

    /// Lowercase hex of bytes. Written out because `String(format: "%02x")` per byte cost tens of microseconds on the
    /// API's authentication path.
    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits: StaticString = "0123456789abcdef"
        var out: [UInt8] = []
        out.reserveCapacity(64)
        digits.withUTF8Buffer { table in
            for byte in bytes { out.append(table[Int(byte >> 4)]); out.append(table[Int(byte & 0x0f)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// SHA-256 of a file, read in 1 MiB chunks so a large file does not sit in memory.
    public static func sha256(fileAt path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReelError(.fileNotFound, "cannot read '\(path)'")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            if Task.isCancelled { throw CancellationError() }
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// A 64-bit hash of a string that is the same on every run and platform (unlike `Hasher`).
    public static func stableHash64(_ text: String) -> UInt64 {
        let digest = SHA256.hash(data: Data(text.utf8))
        return digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
