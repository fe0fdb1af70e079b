import Foundation
import ReelCore

extension JobWorker {
    /// Removes, when the worker starts, the job folders that killed workers left in the scratch folder. A folder
    /// `job-<id>-<attempt>` is live only while its job is running that very attempt (here, or in another process that
    /// shares the folder); any other folder is a leftover, and so is any folder untouched for a day (no run lasts
    /// that long). A folder whose job the database cannot be asked about is kept until the next start.
    func removeLeftoverScratch(now: Date = Date()) async {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: settings.scratchRoot) else { return }
        for name in names where name.hasPrefix("job-") {
            let path = (settings.scratchRoot as NSString).appendingPathComponent(name)
            guard let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { continue }
            if modified >= now.addingTimeInterval(-24 * 3600), let (id, attempt) = Self.scratchJob(name) {
                do {
                    let job = try await store.job(id: id, owner: nil)
                    if job?.status == .running && job?.attempts == attempt { continue }
                } catch {
                    continue
                }
            }
            try? fm.removeItem(atPath: path)
        }
    }

    /// `job-<uuid>-<attempt>` → the job's id and the attempt; nil for any other name.
    static func scratchJob(_ name: String) -> (UUID, Int)? {
        let rest = name.dropFirst("job-".count)
        guard let dash = rest.lastIndex(of: "-"), let id = UUID(uuidString: String(rest[..<dash])),
              let attempt = Int(rest[rest.index(after: dash)...]) else { return nil }
        return (id, attempt)
    }
}
