import Foundation
import ReelCore
import ReelStore
import Vapor

/// The API's JSON coders (camelCase keys as declared, ISO-8601 dates) and response helpers.
enum APIJSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    static func response<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) throws -> Response {
        var headers = headers
        headers.replaceOrAdd(name: .contentType, value: "application/json; charset=utf-8")
        return Response(status: status, headers: headers, body: .init(data: try encoder.encode(value)))
    }

    /// Decodes the (collected) request body; an empty body decodes as `{}` when `emptyIsEmptyObject`.
    static func decode<T: Decodable>(_ type: T.Type, from req: Request, emptyIsEmptyObject: Bool = false) throws -> T {
        var data = Data()
        if var buffer = req.body.data { data = buffer.readData(length: buffer.readableBytes) ?? Data() }
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard emptyIsEmptyObject else { throw Problem.badRequest("the request needs a JSON body") }
            data = Data("{}".utf8)
        }
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as Problem {
            throw error
        } catch let error as DecodingError {
            throw error
        } catch {
            throw Problem.badRequest("malformed JSON")
        }
    }
}

extension APIJSON {
    /// `response(JobJSON(job))` without the Codable machinery: job status is what clients poll, and JSONEncoder was the
    /// largest single cost of that request. The bytes are the same as `encoder`'s (`JobJSONTests` compares them).
    static func jobResponse(_ job: JobRecord, status: HTTPResponseStatus = .ok) throws -> Response {
        guard let text = try JobJSON(job).fastJSON() else { return try response(JobJSON(job), status: status) }
        var headers = HTTPHeaders()
        headers.replaceOrAdd(name: .contentType, value: "application/json; charset=utf-8")
        return Response(status: status, headers: headers, body: .init(string: text))
    }
}

extension JobJSON {
    /// The job as `APIJSON.encoder` writes it (keys sorted, no spaces, ISO-8601 dates via the same formatter, numbers
    /// as JSONEncoder prints a Double); nil when a value needs what only the encoder does (a non-finite number, a
    /// string to escape), so the caller falls back to it.
    func fastJSON() throws -> String? {
        let j = job
        let progress = min(100, max(0, j.progress))
        let eta = j.etaSeconds.map { max(0, $0) }
        guard let progressText = Self.number(progress) else { return nil }
        var etaText = "null"
        if let eta { guard let t = Self.number(eta) else { return nil }; etaText = t }
        let kind = j.kind.rawValue, status = j.status.rawValue, stage = j.stage?.rawValue
        guard Self.plain(kind), Self.plain(status), stage.map(Self.plain) ?? true else { return nil }
        // A failure's message is free text: let the encoder write (and escape) that small object.
        let error = try j.error.map { String(decoding: try APIJSON.encoder.encode($0), as: UTF8.self) } ?? "null"
        var out = ""
        out.reserveCapacity(400 + error.utf8.count)
        out += #"{"createdAt":""#; out += j.createdAt.formatted(.iso8601)
        out += #"","error":"#; out += error
        out += #","etaSeconds":"#; out += etaText
        out += #","finishedAt":"#; out += Self.date(j.finishedAt)
        out += #","id":""#; out += j.id.uuidString
        out += #"","kind":""#; out += kind
        out += #"","progress":"#; out += progressText
        out += #","projectId":""#; out += j.projectId.uuidString
        out += #"","retryOf":"#; out += j.retryOf.map { "\"" + $0.uuidString + "\"" } ?? "null"
        out += #","stage":"#; out += stage.map { "\"" + $0 + "\"" } ?? "null"
        out += #","startedAt":"#; out += Self.date(j.startedAt)
        out += #","status":""#; out += status
        out += #""}"#
        return out
    }

    /// JSONEncoder's form of a finite Double (`description` without a trailing ".0"); nil for NaN and infinities,
    /// which it refuses.
    static func number(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    static func date(_ value: Date?) -> String {
        value.map { "\"" + $0.formatted(.iso8601) + "\"" } ?? "null"
    }

    /// True when the string needs no escaping in JSON.
    static func plain(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}

/// A value that is either absent from a PATCH body, explicitly null, or set: lets `"audioAssetId": null` clear a field.
enum Patch<Value: Decodable & Sendable>: Sendable {
    case absent, null, value(Value)
}

extension KeyedDecodingContainer {
    func decodePatch<V: Decodable & Sendable>(_ type: V.Type, forKey key: Key) throws -> Patch<V> {
        guard contains(key) else { return .absent }
        if try decodeNil(forKey: key) { return .null }
        return .value(try decode(V.self, forKey: key))
    }
}

// MARK: - Response bodies. Each writes every key, null included, so clients see one stable shape.

/// A page of any list (CONTRACTS.md pagination).
struct PageJSON<Item: Encodable & Sendable>: Encodable, Sendable {
    var items: [Item]
    var nextCursor: String?
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)
    }
    enum Keys: String, CodingKey { case items, nextCursor }
}

/// The job object of CONTRACTS.md, exactly.
struct JobJSON: Encodable, Sendable {
    var job: JobRecord
    init(_ job: JobRecord) { self.job = job }
    enum Keys: String, CodingKey {
        case id, projectId, kind, status, stage, progress, etaSeconds, error, createdAt, startedAt, finishedAt, retryOf
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(job.id, forKey: .id)
        try c.encode(job.projectId, forKey: .projectId)
        try c.encode(job.kind, forKey: .kind)
        try c.encode(job.status, forKey: .status)
        try c.encode(job.stage, forKey: .stage)
        try c.encode(min(100, max(0, job.progress)), forKey: .progress)
        try c.encode(job.etaSeconds.map { max(0, $0) }, forKey: .etaSeconds)
        try c.encode(job.error, forKey: .error)
        try c.encode(job.createdAt, forKey: .createdAt)
        try c.encode(job.startedAt, forKey: .startedAt)
        try c.encode(job.finishedAt, forKey: .finishedAt)
        try c.encode(job.retryOf, forKey: .retryOf)
    }
}

struct ProjectJSON: Encodable, Sendable {
    var project: Project
    init(_ project: Project) { self.project = project }
    enum Keys: String, CodingKey {
        case id, name, prompt, category, duration, aspectRatio, style, mood, preset, mode, seed, audioAssetId, plan,
             createdAt, updatedAt
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        let p = project
        try c.encode(p.id, forKey: .id)
        try c.encode(p.name, forKey: .name)
        try c.encode(p.prompt, forKey: .prompt)
        try c.encode(p.category, forKey: .category)
        try c.encode(p.duration, forKey: .duration)
        try c.encode(p.aspectRatio, forKey: .aspectRatio)
        try c.encode(p.style, forKey: .style)
        try c.encode(p.mood, forKey: .mood)
        try c.encode(p.preset, forKey: .preset)
        try c.encode(p.mode, forKey: .mode)
        try c.encode(p.seed, forKey: .seed)
        try c.encode(p.audioAssetId, forKey: .audioAssetId)
        // Plans stored before they named media by asset held a worker's scratch paths: shown by asset too.
        try c.encode(p.plan.map { JobWorker.referencingAssets($0, mediaAssets: [:]) }, forKey: .plan)
        try c.encode(p.createdAt, forKey: .createdAt)
        try c.encode(p.updatedAt, forKey: .updatedAt)
    }
}

struct SceneJSON: Encodable, Sendable {
    var scene: SceneRecord
    init(_ scene: SceneRecord) { self.scene = scene }
    enum Keys: String, CodingKey { case id, projectId, index, start, end, duration, prompt, locked, variant }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(scene.id, forKey: .id)
        try c.encode(scene.projectId, forKey: .projectId)
        try c.encode(scene.index, forKey: .index)
        try c.encode(scene.start, forKey: .start)
        try c.encode(scene.end, forKey: .end)
        try c.encode(scene.end - scene.start, forKey: .duration)
        try c.encode(scene.prompt, forKey: .prompt)
        try c.encode(scene.locked, forKey: .locked)
        try c.encode(scene.variant, forKey: .variant)
    }
}

struct AssetJSON: Encodable, Sendable {
    var asset: AssetRecord
    init(_ asset: AssetRecord) { self.asset = asset }
    enum Keys: String, CodingKey {
        case id, projectId, kind, filename, contentType, size, duration, width, height, sha256, status, createdAt, url
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        let a = asset
        try c.encode(a.id, forKey: .id)
        try c.encode(a.projectId, forKey: .projectId)
        try c.encode(a.kind, forKey: .kind)
        try c.encode(a.filename, forKey: .filename)
        try c.encode(a.contentType, forKey: .contentType)
        try c.encode(a.size, forKey: .size)
        try c.encode(a.duration, forKey: .duration)
        try c.encode(a.width, forKey: .width)
        try c.encode(a.height, forKey: .height)
        try c.encode(a.sha256, forKey: .sha256)
        try c.encode(a.status, forKey: .status)
        try c.encode(a.createdAt, forKey: .createdAt)
        try c.encode("/api/assets/\(a.id.uuidString)/file", forKey: .url)
    }
}

struct KeyJSON: Encodable, Sendable {
    var info: APIKeyInfo
    /// The secret itself: present only in the answer that made it.
    var key: String?
    enum Keys: String, CodingKey { case id, prefix, createdAt, revokedAt, lastUsedAt, key }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(info.id, forKey: .id)
        try c.encode(info.prefix, forKey: .prefix)
        try c.encode(info.createdAt, forKey: .createdAt)
        try c.encode(info.revokedAt, forKey: .revokedAt)
        try c.encode(info.lastUsedAt, forKey: .lastUsedAt)
        if let key { try c.encode(key, forKey: .key) }
    }
}
