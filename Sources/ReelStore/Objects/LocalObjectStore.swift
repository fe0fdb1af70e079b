import Foundation
import ReelCore

/// An `ObjectStore` on a folder of the local disk: the single-machine default (`$REELSMITH_DATA/objects`).
///
/// Each object is a file at `root/key`. Writes go to a temporary file in the object's own folder, are flushed, and are
/// renamed into place, so a reader (or a restart after a crash) sees the old object or the new one, never a part.
/// There are no presigned URLs: the server serves `fileURL(for:)` itself, with ranges.
public struct LocalObjectStore: ObjectStore {
    public let root: URL

    /// A store on the folder at `root` (created on the first write).
    public init(root: URL) { self.root = root.standardizedFileURL }
    /// A store on the folder at path `root` (created on the first write).
    public init(root: String) { self.init(root: URL(fileURLWithPath: root, isDirectory: true)) }

    /// The file holding `key`, or nil when the key is not a valid key or there is no such object.
    public func fileURL(for key: String) -> URL? {
        guard let path = try? path(for: key) else { return nil }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { return nil }
        return URL(fileURLWithPath: path)
    }

    func path(for key: String) throws -> String {
        try ObjectKeys.validate(key)
        return root.appendingPathComponent(key).path
    }

    public func put(_ key: String, fromFile path: String, contentType: String) async throws {
        let destination = try self.path(for: key)
        _ = try FileIO.size(of: path)
        try await runBlocking {
            do {
                try FileIO.copyWhole(from: path, to: destination, tag: "put")
            } catch {
                if error is ReelError { throw error }
                throw ReelError(.outputNotWritable, "cannot store '\(key)' under '\(root.path)' (\(error.localizedDescription))")
            }
        }
    }

    public func get(_ key: String, toFile path: String) async throws {
        let source = try self.path(for: key)
        guard fileURL(for: key) != nil else { throw ReelError(.fileNotFound, "no object '\(key)' in the local store") }
        try await runBlocking {
            do {
                try FileIO.copyWhole(from: source, to: path, tag: "get")
            } catch {
                // Deleted between the check and the copy.
                if !FileManager.default.fileExists(atPath: source) {
                    throw ReelError(.fileNotFound, "no object '\(key)' in the local store")
                }
                if error is ReelError { throw error }
                throw ReelError(.outputNotWritable, "cannot write '\(path)' (\(error.localizedDescription))")
            }
        }
    }

    public func head(_ key: String) async throws -> ObjectInfo? {
        let path = try self.path(for: key)
        guard fileURL(for: key) != nil,
              let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        return ObjectInfo(size: size, contentType: ObjectKeys.contentType(forKey: key))
    }

    public func delete(_ key: String) async throws {
        let path = try self.path(for: key)
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ReelError(.outputNotWritable, "cannot delete the object '\(key)' (\(String(cString: strerror(errno))))")
        }
    }

    public func presignedGet(_ key: String, expires: Duration) async throws -> URL? {
        try ObjectKeys.validate(key)
        return nil
    }

    public func presignedPut(_ key: String, contentType: String, contentLength: Int64, expires: Duration) async throws -> URL? {
        try ObjectKeys.validate(key)
        return nil
    }

    public func keys(under prefix: String, writtenBefore date: Date) async throws -> [String] {
        // The deepest folder the prefix names; keys are relative paths, so a prefix can be checked on them as text.
        let folder = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
        if !folder.isEmpty { try ObjectKeys.validate(folder) }
        let start = folder.isEmpty ? root.path : root.appendingPathComponent(folder).path
        let files = try await runBlocking { LeftoverFiles.files(under: start, modifiedBefore: date) }
        return files.compactMap { relative -> String? in
            let key = folder.isEmpty ? relative : folder + "/" + relative
            return key.hasPrefix(prefix) && (try? ObjectKeys.validate(key)) != nil ? key : nil
        }.sorted()
    }

    /// Removes the hidden temporary files that writes interrupted by a crash left beside objects (no key has a
    /// segment starting with `.`), if untouched since `date`: a write still under way keeps touching its file.
    @discardableResult
    public func removeUnfinishedWrites(startedBefore date: Date) async throws -> Int {
        let root = self.root.path
        return try await runBlocking {
            LeftoverFiles.remove(under: root, modifiedBefore: date) { name in name.hasPrefix(".") }
        }
    }
}
