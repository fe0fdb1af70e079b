import Foundation
import Testing
import ReelCore
import ReelTestSupport
@testable import ReelStore

/// The databases the store suite runs on: every persistence and queue test runs on both.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    /// A new, empty database of this kind.
    func freshLocation() async throws -> (location: DatabaseLocation, cleanup: @Sendable () -> Void) {
        switch self {
        case .sqlite:
            let dir = try Fixtures.temporaryDirectory("store")
            return (.sqlite(path: dir + "/reelsmith.sqlite"), { try? FileManager.default.removeItem(atPath: dir) })
        case .postgres:
            return (.postgres(url: try await PostgresFixture.freshDatabaseURL()), {})
        }
    }
}

/// Opens a fresh database of `backend`, runs `body` with a store on it, and shuts it down.
func withStore<T: Sendable>(_ backend: Backend, _ body: (ServiceStore, DatabaseLocation) async throws -> T) async throws -> T {
    let (location, cleanup) = try await backend.freshLocation()
    defer { cleanup() }
    let database = try await ServiceDatabase.open(location)
    do {
        let result = try await body(ServiceStore(database: database), location)
        await database.shutdown()
        return result
    } catch {
        await database.shutdown()
        throw error
    }
}


/// True when `stream` yields within `seconds` (a guard against hanging, not a timing assertion).
func wakes(_ stream: AsyncStream<Void>, within seconds: Double = 20) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
        group.addTask {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next() != nil
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return false
        }
        let first = await group.next() ?? false
        group.cancelAll()
        return first
    }
}

/// A small valid plan of `count` two-second scenes.
func samplePlan(scenes count: Int = 3, prompt: (Int) -> String = { "scene \($0)" }) -> Plan {
    let brief = Brief(prompt: "neon city", category: .musicVideo, aspect: .landscape, preset: .draft, mode: .classic,
                      subjects: ["neon city"], style: [], mood: [], palette: Palette(name: "test", colors: []), energy: 0.5,
                      pacing: .moderate, duration: Double(count * 2))
    let scenes = (0..<count).map { i in
        Scene(index: i, start: Double(i * 2), end: Double(i * 2 + 2), prompt: prompt(i), content: "neon city", role: .build,
              energy: 0.5, reason: "test", transition: i + 1 < count ? .cut : nil, source: .procedural)
    }
    return Plan(brief: brief, seed: 42, songStart: 0, duration: Double(count * 2), tempo: 120, scenes: scenes)
}

func makeJob(_ project: Project, kind: JobKind = .generate, maxAttempts: Int = 3) -> JobRecord {
    JobRecord(projectId: project.id, userId: project.ownerId, kind: kind, maxAttempts: maxAttempts)
}

func sampleAsset(_ project: Project, kind: AssetKind, status: String = "ready", at: Date = Date()) -> AssetRecord {
    let id = UUID()
    return AssetRecord(id: id, projectId: project.id, ownerId: project.ownerId, kind: kind, filename: "my \(kind.rawValue).bin",
                       storageKey: "assets/\(project.id.uuidString.lowercased())/\(id.uuidString.lowercased()).bin",
                       contentType: kind == .audio ? "audio/mpeg" : kind == .image ? "image/png" : "video/mp4",
                       size: 1234, duration: kind == .image ? nil : 3.5, width: kind == .audio ? nil : 640,
                       height: kind == .audio ? nil : 360, sha256: nil, status: status, createdAt: at)
}

func sampleCost(scene: Int?, cost: Double, at: Date = Date()) -> CostEntry {
    CostEntry(role: "video.draft", provider: "replicate", model: "owner/model", scene: scene, units: cost * 100, unit: "second",
              unitPrice: 0.01, cacheHit: false, predictionId: "p-\(UUID().uuidString.prefix(6))", at: at, kind: "video",
              status: "succeeded")
}
