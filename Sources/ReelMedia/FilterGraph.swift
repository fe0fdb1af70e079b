import Foundation

/// A typed FFmpeg filter graph; `description` is the string given to `-filter_complex`.
public struct FilterGraph: Sendable, Hashable, CustomStringConvertible {
    /// One filter with its options, in order.
    public struct Filter: Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var options: [(key: String?, value: String)]

        public init(_ name: String, _ options: [(String?, String)] = []) {
            self.name = name
            self.options = options.map { (key: $0.0, value: $0.1) }
        }

        /// Builds a filter from `key: value` pairs; `nil` values are left out.
        public init(_ name: String, _ pairs: KeyValuePairs<String, String?>) {
            self.name = name
            self.options = pairs.compactMap { k, v in v.map { (key: k, value: $0) } }
        }

        public var description: String {
            guard !options.isEmpty else { return name }
            return name + "=" + options.map { ($0.key.map { "\($0)=" } ?? "") + FilterGraph.escape($0.value) }.joined(separator: ":")
        }

        public static func == (a: Filter, b: Filter) -> Bool { a.description == b.description }
        public func hash(into h: inout Hasher) { h.combine(description) }
    }

    /// Filters applied in sequence, from labelled inputs to labelled outputs.
    public struct Chain: Sendable, Hashable, CustomStringConvertible {
        public var inputs: [String]
        public var filters: [Filter]
        public var outputs: [String]
        public init(_ inputs: [String], _ filters: [Filter], _ outputs: [String]) {
            self.inputs = inputs; self.filters = filters; self.outputs = outputs
        }
        public var description: String {
            inputs.map { "[\($0)]" }.joined() + filters.map(\.description).joined(separator: ",") + outputs.map { "[\($0)]" }.joined()
        }
    }

    /// Scale to cover `width × height` (keeping the aspect ratio), crop the overflow, square pixels.
    public static func cover(width: Int, height: Int, extra scaleOptions: KeyValuePairs<String, String?> = [:]) -> [Filter] {
        var scale = Filter("scale", ["w": String(width), "h": String(height), "force_original_aspect_ratio": "increase"])
        scale.options += scaleOptions.compactMap { k, v in v.map { (key: k, value: $0) } }
        return [scale, Filter("crop", [(nil, String(width)), (nil, String(height))]), Filter("setsar", [(nil, "1")])]
    }

    public private(set) var chains: [Chain] = []
    public init() {}

    public mutating func add(_ inputs: [String], _ filters: [Filter], _ outputs: [String]) {
        chains.append(Chain(inputs, filters, outputs))
    }

    public var description: String { chains.map(\.description).joined(separator: ";") }

    /// Quotes an option value so that the graph parser and then the option parser both read it back whole.
    /// Values with punctuation are single-quoted (the graph parser keeps quoted text literal), and inside the
    /// quotes `\` and `:` are backslash-escaped for the option parser. Single quotes cannot survive both
    /// levels, so they are dropped.
    static func escape(_ value: String) -> String {
        let v = value.replacingOccurrences(of: "'", with: "")
        guard v.contains(where: { ",;[]:=\\ ".contains($0) }) else { return v }
        return "'" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:") + "'"
    }
}
