import Foundation
import ReelCore
@testable import ReelServer
import Testing

/// The hand-written job JSON (the polled `GET /api/jobs/{id}`) is byte for byte what JSONEncoder writes.
@Suite struct JobJSONTests {
    static func encoderText(_ job: JobRecord) throws -> String {
        String(decoding: try APIJSON.encoder.encode(JobJSON(job)), as: UTF8.self)
    }

    @Test func fastJSONMatchesTheEncoder() throws {
        var rng = SystemRandomNumberGenerator()
        let numbers: [Double] = [0, 1, 0.5, 12.5, 33.333333333333336, 99.99999, 100, 150, -3, 1e-7, 123456789.125, 1e15, 1e16,
                                 2.5e-320, Double.leastNonzeroMagnitude, 7]
        let dates: [Date] = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_764_648_000.999),
                             Date(timeIntervalSince1970: 1_764_648_000.4), Date(), Date(timeIntervalSince1970: 4_102_444_799.5)]
        let messages = ["boom", "quote \" and back\\slash", "new\nline\ttab", "ünïcödé ✓ /slash/", "\u{1}ctl"]
        for i in 0..<400 {
            let job = JobRecord(
                id: UUID(), projectId: UUID(), userId: UUID(), kind: JobKind.allCases.randomElement(using: &rng)!,
                status: JobStatus.allCases.randomElement(using: &rng)!,
                stage: i % 3 == 0 ? nil : Stage.allCases.randomElement(using: &rng),
                progress: i < numbers.count ? numbers[i] : Double.random(in: -10...110, using: &rng),
                etaSeconds: i % 4 == 0 ? nil : (i < numbers.count ? numbers[numbers.count - 1 - i] : Double.random(in: -5...5000, using: &rng)),
                error: i % 5 == 0 ? JobFailure(code: "failed", message: messages[i % messages.count]) : nil,
                createdAt: i < dates.count ? dates[i] : Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &rng)),
                startedAt: i % 2 == 0 ? nil : Date(timeIntervalSince1970: Double.random(in: 1e9...2e9, using: &rng)),
                finishedAt: i % 3 == 1 ? dates[i % dates.count] : nil, retryOf: i % 2 == 0 ? UUID() : nil)
            let fast = try #require(try JobJSON(job).fastJSON(), "job \(i)")
            #expect(fast == (try Self.encoderText(job)), "job \(i)")
        }
    }

    @Test func nonFiniteNumbersFallBackToTheEncoder() throws {
        let job = JobRecord(projectId: UUID(), userId: UUID(), kind: .generate, etaSeconds: .infinity)
        #expect(try JobJSON(job).fastJSON() == nil)
        #expect(throws: (any Error).self) { try APIJSON.jobResponse(job) }
    }
}
