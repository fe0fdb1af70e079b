import Foundation
import ReelCore

/// One prediction to run on a model server, with inputs already named as the model names them.
public struct PredictionCall: Sendable {
    /// `owner/name` (official model), `owner/name:version` or a 64-hex version, `deployments/owner/name`; ignored by Cog.
    public var model: String
    /// Plain inputs (strings, numbers, booleans), keyed by the model's input names.
    public var input: [String: JSONValue]
    /// File inputs: input name → local files. Sent as `data:` URIs when small, otherwise uploaded first. An input
    /// given more than one file is sent as an array.
    public var files: [String: [String]]
    /// What the output must be; downloaded files are checked against it.
    public var expectedOutput: OutputKind
    /// Where downloaded output files are written (the caller owns the folder).
    public var outputDirectory: String
    /// A prediction this same call created in an earlier run or attempt: look it up and follow it instead of
    /// creating (and paying for) another.
    public var resumeId: String?
    /// An earlier run sent this same call's create at this time and was killed before learning the prediction's id:
    /// look for a prediction of the same model and input created since then before creating one.
    public var mayExistSince: Date?

    public init(model: String, input: [String: JSONValue], files: [String: [String]] = [:], expectedOutput: OutputKind,
                outputDirectory: String, resumeId: String? = nil, mayExistSince: Date? = nil) {
        self.model = model; self.input = input; self.files = files; self.expectedOutput = expectedOutput
        self.outputDirectory = outputDirectory; self.resumeId = resumeId; self.mayExistSince = mayExistSince
    }
}

/// A finished, successful prediction with its outputs stored locally.
public struct PredictionResult: Sendable {
    public var id: String
    /// Local copies of the output files, in output order (empty for text outputs).
    public var files: [String]
    /// The text of a text output (LLM chunks joined).
    public var text: String?
    /// The raw `metrics` object (`predict_time`, token counts ...).
    public var metrics: [String: JSONValue]

    public init(id: String, files: [String], text: String?, metrics: [String: JSONValue]) {
        self.id = id; self.files = files; self.text = text; self.metrics = metrics
    }
}

/// Hears about a prediction's life while it runs.
public protocol PredictionObserver: Sendable {
    /// The server has named the prediction: from here on, a retry or a resume must follow this id rather than create
    /// another. Called before polling starts; an error thrown here aborts the call (and cancels the prediction).
    func created(predictionId: String) async throws
    /// A create is about to be sent (its answer, and so the id, may never arrive if the process is killed meanwhile).
    func creating(at time: Date) async throws
}

extension PredictionObserver {
    public func creating(at time: Date) async throws {}
}

/// A model server that runs predictions: Replicate, or a self-hosted Cog server.
///
/// Errors are `ReelError`s: `.providerAuth` (credentials refused), `.providerRejected` (invalid input, unknown model),
/// `.providerFailed` (the prediction failed, or its output was unusable), `.providerUnavailable` (network, 5xx,
/// timeouts after retries), or `CancellationError` after the prediction in flight was canceled on the server.
public protocol PredictionBackend: Sendable {
    func run(_ call: PredictionCall, observer: any PredictionObserver) async throws -> PredictionResult
    /// The model's input schema (names, types, enums), read live so a renamed input is caught before paying.
    func inputSchema(model: String) async throws -> ModelInputSchema
}

/// A model's input schema as its server publishes it (`components.schemas.Input`).
public struct ModelInputSchema: Sendable, Hashable {
    public struct Property: Sendable, Hashable {
        public var type: String?
        /// Allowed values, when the schema lists them (inline `enum` or through `allOf: [$ref]`).
        public var allowed: [JSONValue]?
        public var minimum: Double?
        public var maximum: Double?
        public var isFile: Bool
        public init(type: String?, allowed: [JSONValue]?, minimum: Double?, maximum: Double?, isFile: Bool) {
            self.type = type; self.allowed = allowed; self.minimum = minimum; self.maximum = maximum; self.isFile = isFile
        }
    }
    public var properties: [String: Property]
    public var required: Set<String>
    /// The model's version as its server names it (Replicate's version id; for Cog, a hash of its OpenAPI document).
    public var version: String?
    public init(properties: [String: Property], required: Set<String>, version: String? = nil) {
        self.properties = properties; self.required = required; self.version = version
    }

    /// Reads `components.schemas.Input` out of an OpenAPI document, resolving `allOf: [{"$ref": ...}]` enums.
    public static func fromOpenAPI(_ document: JSONValue) -> ModelInputSchema? {
        guard let schemas = document["components"]?["schemas"], let input = schemas["Input"],
              let props = input["properties"]?.objectValue else { return nil }
        var out: [String: Property] = [:]
        for (name, p) in props {
            var allowed = p["enum"]?.arrayValue
            var type = p["type"]?.stringValue
            for ref in p["allOf"]?.arrayValue ?? [] {
                if let r = ref["$ref"]?.stringValue, let target = r.split(separator: "/").last, let s = schemas[String(target)] {
                    allowed = allowed ?? s["enum"]?.arrayValue
                    type = type ?? s["type"]?.stringValue
                }
            }
            out[name] = Property(type: type, allowed: allowed, minimum: p["minimum"]?.doubleValue, maximum: p["maximum"]?.doubleValue,
                                 isFile: p["format"]?.stringValue == "uri")
        }
        let required = Set(input["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        return ModelInputSchema(properties: out, required: required)
    }
}
