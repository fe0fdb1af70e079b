/// The one conversion of a `Duration` to seconds used everywhere (stores, timeouts, messages).
extension Duration {
    /// The duration in seconds, fractions kept (attosecond precision is more than a `Double` holds anyway).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
