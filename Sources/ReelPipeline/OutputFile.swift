import Foundation
import ReelCore

/// The rule that nothing half-written is ever left at an output path: work goes to a hidden temporary
/// name beside the target and is renamed over it only when complete; a failed run also removes the
/// folders it had to create.
public struct OutputFile: Sendable {
    public let path: String
    public let temporaryPath: String
    /// Folders created for this output, deepest first; removed again (if still empty) by `discard()`.
    private let createdFolders: [String]

    /// Checks that `path` can be written, creating its folder if needed, before any work starts.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw ReelError(.outputNotWritable, "the output path '\(path)' is a folder; give a file name ending in .mp4")
        }
        var missing: [String] = []
        var walk = URL(fileURLWithPath: dir)
        while !fm.fileExists(atPath: walk.path) && walk.path != "/" {
            missing.append(walk.path)
            walk.deleteLastPathComponent()
        }
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw ReelError(.outputNotWritable, "cannot create the output folder '\(dir)': \(Self.reason(error))")
        }
        self.path = path
        self.createdFolders = missing
        self.temporaryPath = (dir as NSString).appendingPathComponent(".\(url.lastPathComponent).partial-\(UUID().uuidString.prefix(8)).\(url.pathExtension)")
        // Probe writability now, before minutes of work, rather than at the final rename; leave nothing behind.
        guard fm.createFile(atPath: temporaryPath, contents: Data()) else {
            discard()
            throw ReelError(.outputNotWritable, "cannot write to '\(dir)' (permission denied or read-only)")
        }
        try? fm.removeItem(atPath: temporaryPath)
    }

    /// Moves the finished temporary file over the target: rename(2) replaces it atomically, so a reader
    /// sees the old file or the new one, never half of either.
    public func commit() throws {
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            discard()
            throw ReelError(.outputNotWritable, "cannot move the finished file to '\(path)': \(reason)")
        }
    }

    /// Removes the temporary file, if any, and the folders this output created if they are empty.
    public func discard() {
        try? FileManager.default.removeItem(atPath: temporaryPath)
        for folder in createdFolders { _ = rmdir(folder) }   // rmdir(2) only removes empty folders
    }

    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
