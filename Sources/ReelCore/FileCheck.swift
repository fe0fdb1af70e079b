import Foundation

/// The one check that a path given by the user is a readable regular file (not a folder, device or pipe).
public enum FileCheck {
    public static func isRegularFile(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular
    }

    /// Throws `.fileNotFound` or `.badInput` naming `what` ("audio file") and the path.
    public static func requireRegularFile(_ path: String, what: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ReelError(.fileNotFound, "the \(what) '\(path)' does not exist")
        }
        if isDir.boolValue { throw ReelError(.badInput, "the \(what) '\(path)' is a folder") }
        guard isRegularFile(path) else { throw ReelError(.badInput, "the \(what) '\(path)' is not a regular file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ReelError(.fileNotFound, "the \(what) '\(path)' cannot be read (permission denied)")
        }
    }
}
