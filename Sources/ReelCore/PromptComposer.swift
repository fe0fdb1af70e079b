/// Builds each scene's prompt from the global style plus the scene's content and place in the arc.
public struct PromptComposer: Sendable {
    public let brief: Brief
    public init(brief: Brief) { self.brief = brief }

    /// What scene `index` shows: the Brief's subjects in turn, framed by the scene's role.
    public func content(forScene index: Int, role: ArcRole, rng: inout SeededGenerator) -> String {
        let subjects = brief.subjects.isEmpty ? (brief.style.isEmpty ? ["abstract light"] : brief.style.map { "\($0) abstract forms" })
                                              : brief.subjects
        let subject = subjects[index % subjects.count]
        let shots = Self.shots[role]!
        let shot = shots[(index / subjects.count + Int.random(in: 0..<shots.count, using: &rng)) % shots.count]
        return "\(shot) of \(subject)"
    }

    public func prompt(content: String, role: ArcRole) -> String {
        var parts = [content]
        parts.append(brief.category == .adCreative ? Self.adRole[role]! : Self.musicRole[role]!)
        if !brief.style.isEmpty { parts.append(brief.style.joined(separator: ", ")) }
        if !brief.mood.isEmpty { parts.append(brief.mood.joined(separator: ", ") + " mood") }
        parts.append("\(brief.palette.name) colour palette")
        return parts.joined(separator: ", ")
    }

    static let shots: [ArcRole: [String]] = [
        .intro: ["wide establishing shot", "slow aerial view", "quiet wide shot"],
        .build: ["tracking shot", "medium shot", "slow push-in", "side-scrolling view"],
        .peak: ["fast dynamic close-up", "rapid orbiting shot", "explosive wide shot", "macro detail"],
        .outro: ["slow pull-back", "lingering wide shot", "fading silhouette"],
    ]
    static let musicRole: [ArcRole: String] = [
        .intro: "opening, sparse and calm", .build: "building momentum", .peak: "peak intensity, vivid motion",
        .outro: "closing, resolving",
    ]
    static let adRole: [ArcRole: String] = [
        .intro: "attention-grabbing hook", .build: "product benefit", .peak: "hero product moment",
        .outro: "end card with call to action",
    ]
}
