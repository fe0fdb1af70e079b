import Foundation

/// Files that a process killed mid-write leaves behind (temporary copies, upload scratch), found by name and age.
///
/// Age is the only safe test when other processes may share the folder (a worker beside the server): a file still
/// being written keeps a fresh modification time.
public enum LeftoverFiles {
    /// Regular files under `folder` (at any depth) last modified before `date`, as paths relative to `folder`.
    /// Symbolic links are neither followed nor listed.
    public static func files(under folder: String, modifiedBefore date: Date) -> [String] {
        var found: [String] = []
        walk(folder) { relative, modified in
            if modified < date { found.append(relative) }
        }
        return found
    }

    /// Removes the regular files under `folder` (at any depth) whose names satisfy `matches` and that were last
    /// modified before `date`; then removes the folders this left empty (never `folder` itself). Answers how many
    /// files were removed.
    @discardableResult
    public static func remove(under folder: String, modifiedBefore date: Date, where matches: (String) -> Bool) -> Int {
        var removed = 0
        var folders: Set<String> = []
        walk(folder) { relative, modified in
            let name = (relative as NSString).lastPathComponent
            guard matches(name), modified < date else { return }
            let path = (folder as NSString).appendingPathComponent(relative)
            if unlink(path) == 0 {
                removed += 1
                let parent = (relative as NSString).deletingLastPathComponent
                if !parent.isEmpty { folders.insert(parent) }
            }
        }
        // Deepest first; rmdir only removes a folder that is empty.
        for relative in folders.sorted(by: { $0.count > $1.count }) {
            var current = relative
            while !current.isEmpty, rmdir((folder as NSString).appendingPathComponent(current)) == 0 {
                current = (current as NSString).deletingLastPathComponent
            }
        }
        return removed
    }

    /// Calls `visit` with each regular file's path relative to `folder` and its modification time.
    static func walk(_ folder: String, _ visit: (String, Date) -> Void) {
        let fm = FileManager.default
        guard let enumerator = fm.enumerator(atPath: folder) else { return }
        for case let relative as String in enumerator {
            let path = (folder as NSString).appendingPathComponent(relative)
            guard let attributes = try? fm.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  let modified = attributes[.modificationDate] as? Date else { continue }
            visit(relative, modified)
        }
    }
}
