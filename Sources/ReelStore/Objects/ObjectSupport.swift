import Crypto
import Foundation
import NIOCore
import ReelCore

/// Object keys are the same for every store: relative paths made of `A-Z a-z 0-9 . _ / -`, so they are safe as file
/// paths and need no encoding in URLs.
public enum ObjectKeys {
    public static let maxLength = 1024

    /// Throws `ReelError(.badInput)` unless `key` is a relative path of safe characters whose segments are not
    /// empty (no `//`, no leading or trailing `/`) and do not start with `.` (no `.`, `..` or hidden names, which also
    /// keeps keys apart from the stores' temporary files).
    public static func validate(_ key: String) throws {
        guard !key.isEmpty else { throw ReelError(.badInput, "an object key cannot be empty") }
        guard key.utf8.count <= maxLength else {
            throw ReelError(.badInput, "object key is longer than \(maxLength) bytes")
        }
        guard !key.hasPrefix("/") else { throw ReelError(.badInput, "object key '\(printable(key))' must be relative (no leading '/')") }
        guard key.utf8.allSatisfy(isSafe) else {
            throw ReelError(.badInput, "object key '\(printable(key))' may only contain A-Z, a-z, 0-9, '.', '_', '-' and '/'")
        }
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { throw ReelError(.badInput, "object key '\(key)' has an empty path segment") }
            if segment == ".." { throw ReelError(.badInput, "object key '\(key)' may not contain '..'") }
            if segment.hasPrefix(".") { throw ReelError(.badInput, "object key '\(key)' has a segment starting with '.'") }
        }
    }

    static func isSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }

    /// A rejected key, shortened and with unsafe characters shown as `?`, for messages.
    static func printable(_ key: String) -> String {
        let shown = String(key.prefix(120).map { $0.isASCII && !$0.isNewline && $0 != "\0" ? $0 : "?" })
        return key.count > 120 ? shown + "…" : shown
    }

    /// A content type from a key's extension, for stores that keep no metadata (the local folder).
    public static func contentType(forKey key: String) -> String? {
        switch (key as NSString).pathExtension.lowercased() {
        case "mp4", "m4v": return "video/mp4"
        case "mov": return "video/quicktime"
        case "webm": return "video/webm"
        case "mkv": return "video/x-matroska"
        case "mp3": return "audio/mpeg"
        case "wav": return "audio/wav"
        case "m4a": return "audio/mp4"
        case "aac": return "audio/aac"
        case "flac": return "audio/flac"
        case "ogg", "oga": return "audio/ogg"
        case "opus": return "audio/opus"
        case "jpg", "jpeg": return "image/jpeg"
        case "png": return "image/png"
        case "webp": return "image/webp"
        case "gif": return "image/gif"
        case "json": return "application/json"
        case "txt", "log": return "text/plain"
        default: return nil
        }
    }
}

/// Blocking file work (copying, hashing a part) runs on a Dispatch thread, not on Swift concurrency's few
/// cooperative threads (one per core here: a long copy there would stall every other task of the process).
func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .utility).async {
            continuation.resume(with: Result { try work() })
        }
    }
}

enum FileIO {
    static let chunkSize = 1 << 20

    /// Size of a regular file, or `ReelError(.fileNotFound)`.
    static func size(of path: String) throws -> Int64 {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ReelError(.fileNotFound, "no file at '\(path)' to store")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// Hex SHA-256 of `length` bytes of the file from `offset`, read in 1 MiB chunks.
    static func sha256Hex(path: String, offset: Int64, length: Int64) throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        var hasher = SHA256()
        var remaining = length
        while remaining > 0 {
            guard let data = try handle.read(upToCount: Int(min(Int64(chunkSize), remaining))), !data.isEmpty else {
                throw ReelError(.fileNotFound, "'\(path)' became shorter while it was read")
            }
            hasher.update(data: data)
            remaining -= Int64(data.count)
        }
        return ContentHash.hex(hasher.finalize())
    }

    /// Copies `source` to `destination` so that it appears whole or not at all: a synced copy beside it, then a rename;
    /// the partial copy is removed on failure.
    static func copyWhole(from source: String, to destination: String, tag: String) throws {
        try makeParentDirectory(of: destination)
        let temporary = temporarySibling(of: destination, tag: tag)
        do {
            try copySynced(from: source, to: temporary)
            try publish(temporary, as: destination)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Copies `source` to `destination` (a new file) in 1 MiB chunks and flushes it to disk, so that a rename after
    /// it publishes complete bytes even across a crash.
    static func copySynced(from source: String, to destination: String) throws {
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
        defer { try? input.close() }
        guard FileManager.default.createFile(atPath: destination, contents: nil) else {
            throw ReelError(.outputNotWritable, "cannot create '\(destination)'")
        }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: destination))
        defer { try? output.close() }
        while let data = try input.read(upToCount: chunkSize), !data.isEmpty {
            try output.write(contentsOf: data)
        }
        try output.synchronize()
    }

    /// A temporary name beside `path` (same folder, so the final rename stays on one file system and is atomic).
    static func temporarySibling(of path: String, tag: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        return (directory as NSString).appendingPathComponent(".\(name).\(tag)-\(UUID().uuidString.prefix(12))")
    }

    /// Atomically replaces `destination` with `source` (POSIX rename).
    static func publish(_ source: String, as destination: String) throws {
        guard rename(source, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            throw ReelError(.outputNotWritable, "cannot move the object into '\(destination)' (\(reason))")
        }
    }

    static func makeParentDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        guard !directory.isEmpty else { return }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        catch { throw ReelError(.outputNotWritable, "cannot create the folder '\(directory)' (\(error.localizedDescription))") }
    }
}

/// A byte range of a file as an async sequence of 1 MiB buffers: an upload body streamed from disk, never whole in
/// memory. Each `next()` is one blocking read of at most 1 MiB (well under a millisecond from the page cache), which
/// is acceptable on a cooperative thread between network writes.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        var position: Int64
        var remaining: Int64
        var handle: FileHandle?

        mutating func next() async throws -> ByteBuffer? {
            guard remaining > 0 else {
                try? handle?.close(); handle = nil
                return nil
            }
            try Task.checkCancellation()
            if handle == nil {
                let opened = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
                try opened.seek(toOffset: UInt64(position))
                handle = opened
            }
            guard let data = try handle!.read(upToCount: Int(Swift.min(Int64(FileIO.chunkSize), remaining))), !data.isEmpty else {
                throw ReelError(.fileNotFound, "'\(path)' became shorter while it was uploaded")
            }
            remaining -= Int64(data.count)
            position += Int64(data.count)
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, position: offset, remaining: length, handle: nil) }
}
